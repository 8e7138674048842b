"""Hand-typed scalar nonlinearities for the independent reference values.

Nothing here imports ``sigprop``: the whole point is independence from the
package's own code.  Every nonlinearity comes in two flavours:

* ``phi`` / ``dphi``: plain Python floats, written with :mod:`math` in
  numerically stable forms (used by the nested ``scipy.integrate.quad``
  references);
* ``phi_mp`` / ``dphi_mp``: :mod:`mpmath` versions (used by the 30-digit
  one-dimensional references).

``kinks`` lists the points x where phi or phi' is not smooth (phi' jumps);
the integrators turn them into breakpoints (k/sqrt(q) in the z variable).
``odd`` is True when phi(-x) = -phi(x); then E[phi(sqrt(q) z)] = 0 exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import mpmath

LEAKY_ALPHA = 0.1
SELU_LAMBDA_STR = "1.0507009873554804934193349852946"
SELU_ALPHA_STR = "1.6732632423543772848170429916717"
SELU_LAMBDA = float(SELU_LAMBDA_STR)
SELU_ALPHA = float(SELU_ALPHA_STR)

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Nonlinearity(NamedTuple):
    name: str
    phi: Callable[[float], float]
    dphi: Callable[[float], float]
    phi_mp: Callable
    dphi_mp: Callable
    kinks: tuple[float, ...]
    odd: bool


# ----------------------------------------------------------------- floats
def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _dsigmoid(x: float) -> float:
    # s (1 - s) = 1 / (4 cosh(x/2)^2), free of cancellation for large |x|
    if abs(x) > 1400.0:
        return 0.0
    return 0.25 / math.cosh(0.5 * x) ** 2


def _tanh(x: float) -> float:
    return math.tanh(x)


def _dtanh(x: float) -> float:
    if abs(x) > 700.0:
        return 0.0
    return 1.0 / math.cosh(x) ** 2


def _erf(x: float) -> float:
    return math.erf(x)


def _derf(x: float) -> float:
    return _TWO_OVER_SQRT_PI * math.exp(-x * x)


def _relu(x: float) -> float:
    return x if x > 0.0 else 0.0


def _drelu(x: float) -> float:
    return 1.0 if x > 0.0 else 0.0


def _leaky(x: float) -> float:
    return x if x > 0.0 else LEAKY_ALPHA * x


def _dleaky(x: float) -> float:
    return 1.0 if x > 0.0 else LEAKY_ALPHA


def _hard_tanh(x: float) -> float:
    return min(max(x, -1.0), 1.0)


def _dhard_tanh(x: float) -> float:
    return 1.0 if -1.0 < x < 1.0 else 0.0


def _linear(x: float) -> float:
    return x


def _dlinear(x: float) -> float:
    return 1.0


def _softplus(x: float) -> float:
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


def _dsoftplus(x: float) -> float:
    return _sigmoid(x)


def _gelu(x: float) -> float:
    return x * 0.5 * math.erfc(-x / _SQRT2)


def _dgelu(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2) + x * _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _silu(x: float) -> float:
    return x * _sigmoid(x)


def _dsilu(x: float) -> float:
    # s + x s (1 - s) = s (1 + x (1 - s)), with 1 - s = sigmoid(-x)
    return _sigmoid(x) * (1.0 + x * _sigmoid(-x))


def _elu(x: float) -> float:
    return x if x > 0.0 else math.expm1(x)


def _delu(x: float) -> float:
    return 1.0 if x > 0.0 else math.exp(x)


def _selu(x: float) -> float:
    return SELU_LAMBDA * (x if x > 0.0 else SELU_ALPHA * math.expm1(x))


def _dselu(x: float) -> float:
    return SELU_LAMBDA if x > 0.0 else SELU_LAMBDA * SELU_ALPHA * math.exp(x)


def _sin(x: float) -> float:
    return math.sin(x)


def _dsin(x: float) -> float:
    return math.cos(x)


# ----------------------------------------------------------------- mpmath
def _mpf(x):
    return mpmath.mpf(x)


def _sigmoid_mp(x):
    return 1 / (1 + mpmath.exp(-x))


def _relu_mp(x):
    x = _mpf(x)
    return x if x > 0 else _mpf(0)


def _drelu_mp(x):
    return _mpf(1) if x > 0 else _mpf(0)


def _leaky_mp(x):
    x = _mpf(x)
    return x if x > 0 else mpmath.mpf(LEAKY_ALPHA) * x


def _dleaky_mp(x):
    return _mpf(1) if x > 0 else mpmath.mpf(LEAKY_ALPHA)


def _hard_tanh_mp(x):
    x = _mpf(x)
    if x > 1:
        return _mpf(1)
    if x < -1:
        return _mpf(-1)
    return x


def _dhard_tanh_mp(x):
    return _mpf(1) if -1 < x < 1 else _mpf(0)


def _softplus_mp(x):
    x = _mpf(x)
    if x > 0:
        return x + mpmath.log1p(mpmath.exp(-x))
    return mpmath.log1p(mpmath.exp(x))


def _gelu_mp(x):
    return x * mpmath.ncdf(x)


def _dgelu_mp(x):
    return mpmath.ncdf(x) + x * mpmath.npdf(x)


def _silu_mp(x):
    return x * _sigmoid_mp(x)


def _dsilu_mp(x):
    s = _sigmoid_mp(x)
    return s * (1 + x * (1 - s))


def _elu_mp(x):
    x = _mpf(x)
    return x if x > 0 else mpmath.expm1(x)


def _delu_mp(x):
    x = _mpf(x)
    return _mpf(1) if x > 0 else mpmath.exp(x)


def _selu_mp(x):
    x = _mpf(x)
    lam = mpmath.mpf(SELU_LAMBDA_STR)
    alp = mpmath.mpf(SELU_ALPHA_STR)
    return lam * (x if x > 0 else alp * mpmath.expm1(x))


def _dselu_mp(x):
    x = _mpf(x)
    lam = mpmath.mpf(SELU_LAMBDA_STR)
    alp = mpmath.mpf(SELU_ALPHA_STR)
    return lam if x > 0 else lam * alp * mpmath.exp(x)


NONLINEARITIES: dict[str, Nonlinearity] = {
    nl.name: nl
    for nl in [
        Nonlinearity("tanh", _tanh, _dtanh, mpmath.tanh, lambda x: mpmath.sech(x) ** 2, (), True),
        Nonlinearity(
            "erf",
            _erf,
            _derf,
            mpmath.erf,
            lambda x: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-x * x),
            (),
            True,
        ),
        Nonlinearity("relu", _relu, _drelu, _relu_mp, _drelu_mp, (0.0,), False),
        Nonlinearity("leaky_relu", _leaky, _dleaky, _leaky_mp, _dleaky_mp, (0.0,), False),
        Nonlinearity(
            "hard_tanh",
            _hard_tanh,
            _dhard_tanh,
            _hard_tanh_mp,
            _dhard_tanh_mp,
            (-1.0, 1.0),
            True,
        ),
        Nonlinearity("linear", _linear, _dlinear, lambda x: _mpf(x), lambda x: _mpf(1), (), True),
        Nonlinearity(
            "sigmoid",
            _sigmoid,
            _dsigmoid,
            _sigmoid_mp,
            lambda x: _sigmoid_mp(x) * _sigmoid_mp(-x),
            (),
            False,
        ),
        Nonlinearity("softplus", _softplus, _dsoftplus, _softplus_mp, _sigmoid_mp, (), False),
        Nonlinearity("gelu", _gelu, _dgelu, _gelu_mp, _dgelu_mp, (), False),
        Nonlinearity("silu", _silu, _dsilu, _silu_mp, _dsilu_mp, (), False),
        Nonlinearity("elu", _elu, _delu, _elu_mp, _delu_mp, (0.0,), False),
        Nonlinearity("selu", _selu, _dselu, _selu_mp, _dselu_mp, (0.0,), False),
        Nonlinearity("sin", _sin, _dsin, mpmath.sin, mpmath.cos, (), True),
    ]
}


def get(name: str) -> Nonlinearity:
    return NONLINEARITIES[name]
