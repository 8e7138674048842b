"""Checks of user arguments shared by the API entry points, each failing with one line.

The checks refuse what Python would otherwise coerce silently: a bool is not a number here
(``point("tanh", True, 0.1)`` is a mistake, not σ_w² = 1), nor is a string or a complex number.
Messages quote the offending value through :func:`shown`, which never echoes more than
:data:`SHOWN_CHARS` characters of user text.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from sigprop.errors import InvalidParameterError

SHOWN_CHARS = 40
"""Longest quotation of user text in a message (a 500-digit number is shown as its start and '...')."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)``, shortened to ``limit`` characters with a trailing ``...``.

    >>> shown("x" * 100)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."
    >>> shown(2.5)
    '2.5'
    """
    try:
        text = repr(value) if not isinstance(value, int) or abs(value) < 10**limit else f"{str(value)[:limit]}..."
    except Exception:  # a repr that fails (or an int too long for str) is not worth a second error
        text = f"<{type(value).__name__}>"
    text = " ".join(text.splitlines())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_bool_or_complex(value: object) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    return isinstance(value, bool | complex | str | bytes) or kind in ("b", "c", "U", "S", "O")


def real(value: object, name: str) -> float:
    """``value`` as a Python float; bools, strings, complex numbers and arrays of several values are refused.

    Args:
      value: a real number (int, float, numpy or 0-d JAX scalar).
      name: how the message calls it (``"σ_w²"``).

    Raises:
      InvalidParameterError: ``value`` is not a real number (infinite and NaN values pass: callers
        check the range).

    >>> real(2, "σ_w²")
    2.0
    >>> real(True, "σ_w²")
    Traceback (most recent call last):
    ...
    sigprop.errors.InvalidParameterError: σ_w² must be a real number, got True
    """
    if _is_bool_or_complex(value):
        raise InvalidParameterError(f"{name} must be a real number, got {shown(value)}")
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise InvalidParameterError(f"{name} is too large for a float: {shown(value)}") from None
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a real number, got {shown(value)}") from None


def finite_real(value: object, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """``value`` as a finite float in [lo, hi] (see :func:`real`).

    >>> finite_real(0.5, "c⁰", -1.0, 1.0)
    0.5
    """
    x = real(value, name)
    if not (math.isfinite(x) and lo <= x <= hi):
        where = "" if (lo, hi) == (-math.inf, math.inf) else f" in [{lo:g}, {hi:g}]"
        raise InvalidParameterError(f"{name} must be a finite number{where}, got {shown(value)}")
    return x


def integer(value: object, name: str, lo: int, hi: int | None = None) -> int:
    """``value`` as an int in [lo, hi] (hi = None: no upper bound); bools and floats are refused.

    >>> integer(3, "depth", 1, 10)
    3
    """
    ok = isinstance(value, numbers.Integral) and not _is_bool_or_complex(value)
    if not ok or value < lo or (hi is not None and value > hi):  # type: ignore[operator]
        bound = f"in [{lo}, {hi}]" if hi is not None else f"≥ {lo}"
        raise InvalidParameterError(f"{name} must be an integer {bound}, got {shown(value)}")
    return int(value)  # type: ignore[arg-type]


def real_array(value: object, name: str) -> np.ndarray:
    """``value`` as a float64 array of finite numbers (bools, strings and ragged lists refused).

    >>> real_array([1, 2.5], "σ_w² axis").tolist()
    [1.0, 2.5]
    """
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        a = np.asarray(None)
    if a.dtype.kind not in "iuf" or a.size == 0:
        raise InvalidParameterError(f"{name} must be a non-empty array of real numbers, got {shown(value)}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise InvalidParameterError(f"{name} must hold finite numbers, got {shown(value)}")
    return a


def quadrature_rule(value: object):
    """``value`` if it is a :class:`sigprop.quadrature.Quadrature`, else a one-line error."""
    from sigprop.quadrature import Quadrature

    if not isinstance(value, Quadrature):
        raise InvalidParameterError(f"quadrature must be a sigprop.quadrature.Quadrature, got {shown(value)}")
    return value


def integer_fields(obj: object) -> None:
    """Check that every int-annotated field of a dataclass holds an int (not a bool, float or string).

    Used by frozen settings such as :class:`sigprop.quadrature.Quadrature`, whose range checks then
    compare numbers only.
    """
    import dataclasses

    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        if f.type in (int, "int"):
            value = getattr(obj, f.name)
            if not isinstance(value, numbers.Integral) or _is_bool_or_complex(value):
                raise InvalidParameterError(f"{f.name} must be an integer, got {shown(value)}")
