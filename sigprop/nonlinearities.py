"""The nonlinearity registry.

A :class:`Nonlinearity` is an elementwise JAX function φ plus the facts about it that the
quadrature needs: where it has kinks (points where φ or φ' is not smooth, so that integrals are
split there) and how fast φ² grows (``growth = lim_{q→∞} E[φ(√q z)²]/q``, which decides whether
the length map can diverge). Derivatives are never typed by hand: they come from JAX.

Custom nonlinearities are expressions in ``x`` parsed by :mod:`sigprop.expression`, a safe
AST allow-list (never ``eval``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp

from sigprop import _config  # noqa: F401  (float64)
from sigprop.errors import InvalidParameterError, UnknownNonlinearityError

# SELU constants (Klambauer et al. 2017), to the precision they are usually quoted.
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


@dataclass(frozen=True)
class Nonlinearity:
    """An elementwise nonlinearity φ and what the quadrature needs to know about it.

    Attributes:
      name: registry name or the custom expression's text.
      fn: elementwise ``jax.numpy`` function, differentiable by JAX.
      kinks: points where φ or φ' is not smooth; expectations are split there.
      growth: ``lim_{q→∞} E[φ(√q z)²]/q``; 0 for bounded φ, ``inf`` for super-linear φ.
      homogeneous: φ(λx) = λφ(x) for λ > 0 (ReLU, leaky ReLU, linear): then the length map is
        linear and at σ_w² growth/ρ = 1, σ_b² = 0 every q is a fixed point.
      formula: human-readable definition.
    """

    name: str
    fn: Callable[[jax.Array], jax.Array] = field(compare=False)
    kinks: tuple[float, ...] = ()
    growth: float = 0.0
    homogeneous: bool = False
    formula: str = ""
    key: tuple = field(default=(), repr=False)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fn(x)

    def __hash__(self) -> int:
        return hash((self.name, self.key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Nonlinearity) and (self.name, self.key) == (other.name, other.key)

    @property
    def is_smooth(self) -> bool:
        """True when φ has no kinks: smooth expectations use plain Gauss–Hermite."""
        return not self.kinks


def _leaky_relu(alpha: float) -> Nonlinearity:
    if not (math.isfinite(alpha) and 0.0 <= alpha < 1.0):
        raise InvalidParameterError(f"leaky_relu slope must be in [0, 1), got {alpha}")
    return Nonlinearity(
        "leaky_relu",
        lambda x: jnp.where(x > 0, x, alpha * x),
        kinks=(0.0,),
        growth=(1.0 + alpha**2) / 2.0,
        homogeneous=True,
        formula=f"max(x, {alpha}·x)",
        key=(alpha,),
    )


def _elu(alpha: float) -> Nonlinearity:
    if not (math.isfinite(alpha) and alpha > 0.0):
        raise InvalidParameterError(f"elu alpha must be positive, got {alpha}")
    return Nonlinearity(
        "elu",
        lambda x: jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0))),
        kinks=(0.0,),
        growth=0.5,
        formula=f"x if x > 0 else {alpha}·(eˣ − 1)",
        key=(alpha,),
    )


def _selu() -> Nonlinearity:
    lam, alpha = SELU_LAMBDA, SELU_ALPHA
    return Nonlinearity(
        "selu",
        lambda x: lam * jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0))),
        kinks=(0.0,),
        growth=lam**2 / 2.0,
        formula="λ·(x if x > 0 else α(eˣ − 1)), λ ≈ 1.0507, α ≈ 1.6733",
    )


_SIMPLE: dict[str, Callable[[], Nonlinearity]] = {
    "tanh": lambda: Nonlinearity("tanh", jnp.tanh, formula="tanh(x)"),
    "erf": lambda: Nonlinearity("erf", jsp.erf, formula="erf(x)"),
    "relu": lambda: Nonlinearity(
        "relu",
        lambda x: jnp.maximum(x, 0.0),
        kinks=(0.0,),
        growth=0.5,
        homogeneous=True,
        formula="max(x, 0)",
    ),
    "hard_tanh": lambda: Nonlinearity(
        "hard_tanh", lambda x: jnp.clip(x, -1.0, 1.0), kinks=(-1.0, 1.0), formula="clip(x, −1, 1)"
    ),
    "linear": lambda: Nonlinearity("linear", lambda x: x, growth=1.0, homogeneous=True, formula="x"),
    "sigmoid": lambda: Nonlinearity("sigmoid", jax.nn.sigmoid, formula="1/(1 + e⁻ˣ)"),
    "softplus": lambda: Nonlinearity("softplus", jax.nn.softplus, growth=0.5, formula="log(1 + eˣ)"),
    "gelu": lambda: Nonlinearity("gelu", lambda x: jax.nn.gelu(x, approximate=False), growth=0.5, formula="x·Φ(x)"),
    "silu": lambda: Nonlinearity("silu", jax.nn.silu, growth=0.5, formula="x·sigmoid(x)"),
    "sin": lambda: Nonlinearity("sin", jnp.sin, formula="sin(x)"),
    "selu": _selu,
}
_ALIASES = {"swish": "silu", "identity": "linear", "hardtanh": "hard_tanh", "leaky": "leaky_relu"}
_PARAMETRISED = {"leaky_relu": ("alpha", 0.01, _leaky_relu), "elu": ("alpha", 1.0, _elu)}

NAMES: tuple[str, ...] = tuple(sorted([*_SIMPLE, *_PARAMETRISED]))
"""Names accepted by :func:`nonlinearity` (plus the aliases ``swish``, ``identity``...)."""


@functools.lru_cache(maxsize=256)
def _registered(name: str, param: float | None) -> Nonlinearity:
    if name in _SIMPLE:
        return _SIMPLE[name]()
    _, default, make = _PARAMETRISED[name]
    return make(default if param is None else float(param))


@functools.lru_cache(maxsize=256)
def _custom(text: str) -> Nonlinearity:
    from sigprop.expression import find_kinks, parse_expression

    expr = parse_expression(text)
    return Nonlinearity(
        expr.text,
        expr.fn,
        kinks=find_kinks(expr),
        growth=_estimate_growth(expr.fn),
        formula=expr.text,
        key=("custom",),
    )


def _estimate_growth(fn: Callable[[jax.Array], jax.Array]) -> float:
    """Estimate ``lim E[φ(√q z)²]/q`` for a custom φ from its values far out.

    For |x| → ∞ a linearly growing φ has φ(x)²/x² → const on each side; we average the two
    sides (E over z of a symmetric Gaussian). Faster than quadratic growth gives ``inf``.
    """
    big = jnp.array([1e6, 1e8, -1e6, -1e8])
    r = [float(v) for v in jnp.abs(fn(big)) ** 2 / big**2]
    if not all(math.isfinite(v) for v in r) or r[1] > 2 * r[0] + 1e-12 or r[3] > 2 * r[2] + 1e-12:
        return math.inf
    return 0.5 * (r[1] + r[3]) if max(r[1], r[3]) > 1e-10 else 0.0


def nonlinearity(spec: str | Nonlinearity, **params: float) -> Nonlinearity:
    """Resolve a registry name or a custom expression in ``x`` to a :class:`Nonlinearity`.

    Args:
      spec: a name from :data:`NAMES` (``"tanh"``, ``"relu"``, ``"leaky_relu"``...), a custom
        expression such as ``"x * sigmoid(1.702*x)"``, or a :class:`Nonlinearity`.
      **params: ``alpha`` for ``leaky_relu`` (slope, default 0.01) and ``elu`` (default 1).

    Returns:
      The (cached) nonlinearity; equal specs give the same object, so nothing recompiles.

    Raises:
      UnknownNonlinearityError: the name is unknown and the text is not a valid expression.

    >>> nonlinearity("tanh").name
    'tanh'
    """
    if isinstance(spec, Nonlinearity):
        return spec
    if not isinstance(spec, str):
        raise UnknownNonlinearityError(f"nonlinearity must be a name or an expression, got {spec!r}")
    name = _ALIASES.get(spec.strip().lower(), spec.strip().lower())
    unknown = set(params) - {"alpha"}
    if unknown:
        raise InvalidParameterError(f"unknown nonlinearity parameter(s): {', '.join(sorted(unknown))}")
    if name in _SIMPLE or name in _PARAMETRISED:
        if params and name not in _PARAMETRISED:
            raise InvalidParameterError(f"nonlinearity {name!r} takes no parameters")
        return _registered(name, params.get("alpha"))
    if params:
        raise InvalidParameterError("parameters apply only to registry nonlinearities")
    from sigprop.expression import ExpressionError

    try:
        return _custom(spec.strip())
    except ExpressionError as err:
        if "(" not in spec and all(ch.isalnum() or ch == "_" for ch in spec.strip()):
            raise UnknownNonlinearityError(
                f"unknown nonlinearity {spec!r}; known: {', '.join(NAMES)} "
                "(or type an expression in x, e.g. 'x*sigmoid(1.702*x)')"
            ) from None
        raise UnknownNonlinearityError(f"invalid nonlinearity expression: {err}") from None
