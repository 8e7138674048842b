"""The nonlinearity registry.

A :class:`Nonlinearity` is an elementwise JAX function φ plus the facts about it that the
quadrature needs: where it has kinks (points where φ or φ' is not smooth, so that integrals are
split there) and how fast φ² grows (``growth = lim_{q→∞} E[φ(√q z)²]/q``, which decides whether
the length map can diverge). Derivatives are never typed by hand: they come from JAX.

Custom nonlinearities are expressions in ``x`` parsed by :mod:`sigprop.expression`, a safe
AST allow-list (never ``eval``). Every quantity sigprop computes is a Gaussian expectation of φ²
or φ'², whose support is the whole real line, so a custom φ is accepted only if

* φ and φ' are finite on a fixed grid of the real line (:data:`SUPPORT_GRID`: 0, both signs,
  from 1e-12 to 20): ``0/0``, ``sqrt(x)`` or ``log(x)`` are refused with the point where they fail;
* φ has no pole (|φ| → ∞ at a finite x, as ``1/x`` or ``tan(x)``): E[φ²] would be infinite.
  Between grid points a sign change of φ is bisected, and a local maximum of |φ| searched,
  to floating-point resolution; |φ| growing by more than :data:`POLE_GROWTH` there is a pole;
* its kinks keep the 2-D quadrature rule within :data:`MAX_POLAR_NODES` nodes (cost cap).
"""

from __future__ import annotations

import functools
import keyword
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np

from sigprop import _config  # noqa: F401  (float64)
from sigprop.errors import InvalidParameterError, ResourceLimitError, UnknownNonlinearityError
from sigprop.validation import real, shown

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


SUPPORT_GRID = np.unique(np.concatenate([
    [0.0], np.linspace(-20.0, 20.0, 4001), np.geomspace(1e-12, 20.0, 121), -np.geomspace(1e-12, 20.0, 121),
]))
"""Where a custom φ and φ' must be finite: 0, a 0.01-spaced grid of [−20, 20] and ±1e-12 … 20
geometrically (a Gaussian of any variance gives every point of the line weight; 20 keeps exp(x) and
its kin in float64)."""

POLE_GROWTH = 1e6
"""|φ| at a bisected sign change (or a refined local maximum of |φ|) more than this many times its
value at the grid points around it is a pole: near a root |φ| falls, at a jump it stays bounded,
at a pole ~1/δ it grows to ~1e15 after bisection to floating-point resolution."""

MAX_POLAR_NODES = 1 << 21
"""Most nodes of the 2-D polar rule for one bivariate expectation of a kinked φ (default degrees).
Angular panels grow with the pairs of kinks and radial panels with the kinks, so nodes grow like
kinks³; measured on the 2-core machine (cold point, which compiles): 4 kinks 3.2e5 nodes 9 s
0.66 GB; 9 kinks 1.2e6 nodes 9 s 0.66 GB, warm 3 ms; 19 kinks 8.4e6 nodes 36 s 1.2 GB (issue 12:
25 s, 1.3 GB); 64 kinks over 900 s and 7.3 GB (issue 12). 2²¹ ≈ 2.1e6 admits about 10 kinks at generic positions."""

_BISECTIONS = 64


def _nice_point(x: np.ndarray) -> float:
    """The bad point to report: 0 if it is one, else the one nearest 0 on the 0.01 grid (else nearest 0)."""
    on_grid = x[np.isclose(x * 100.0, np.round(x * 100.0), rtol=0.0, atol=1e-9)]
    pool = on_grid if on_grid.size else x
    return float(pool[np.argmin(np.abs(pool))])


def _support_scan(fn: Callable[[jax.Array], jax.Array], x: jax.Array):
    """φ and φ' on the grid x, and for every interval [x_i, x_i+1] the growth of |φ| at its refined point.

    The refined point of an interval with a sign change is its bisected sign change; of a local
    maximum of |φ| at x_i (interval [x_i−1, x_i+1]) the ternary-searched maximum. Growth is |φ| there
    over 1 + |φ| at the interval's ends (a root or a jump gives ≤ 1, a pole ~1e15). One jitted pass.
    """
    v, d = jax.jvp(fn, (x,), (jnp.ones_like(x),))
    absf = lambda t: jnp.abs(fn(t))  # noqa: E731
    a, b, sa = x[:-1], x[1:], jnp.sign(v[:-1])

    def bisect(_, ab):
        lo, hi = ab
        mid = 0.5 * (lo + hi)
        same = jnp.sign(fn(mid)) == sa
        return jnp.where(same, mid, lo), jnp.where(same, hi, mid)

    lo, hi = jax.lax.fori_loop(0, _BISECTIONS, bisect, (a, b))
    av = jnp.abs(v)
    change = jnp.sign(v[1:]) != sa
    grow_change = jnp.where(change, jnp.minimum(absf(lo), absf(hi)) / (1.0 + jnp.maximum(av[:-1], av[1:])), 0.0)
    x_change = 0.5 * (lo + hi)

    def ternary(_, ab):
        lo, hi = ab
        m1, m2 = lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0
        up = absf(m1) < absf(m2)
        return jnp.where(up, m1, lo), jnp.where(up, hi, m2)

    lo, hi = jax.lax.fori_loop(0, _BISECTIONS, ternary, (x[:-2], x[2:]))
    peak = (av[1:-1] > av[:-2]) & (av[1:-1] >= av[2:])
    top = absf(0.5 * (lo + hi))
    grow_peak = jnp.where(peak, jnp.where(jnp.isnan(top), jnp.inf, top) / (1.0 + jnp.maximum(av[:-2], av[2:])), 0.0)
    return v, d, jnp.concatenate([grow_change, grow_peak]), jnp.concatenate([x_change, 0.5 * (lo + hi)])


def check_support(text: str, fn: Callable[[jax.Array], jax.Array]) -> None:
    """Refuse a custom φ that is not finite, or not differentiable to a finite φ', on the real line.

    Raises:
      UnknownNonlinearityError: φ or φ' is NaN or infinite at a point of :data:`SUPPORT_GRID`, or
        φ has a pole between its points; the message names the point.
    """
    x = SUPPORT_GRID
    v, d, growth, at = (np.asarray(a) for a in jax.jit(functools.partial(_support_scan, fn))(jnp.asarray(x)))
    where = f"φ = {shown(text)}"
    for values, name in ((v, "φ"), (d, "φ'")):
        bad = ~np.isfinite(values)
        if bad.any():
            x0 = _nice_point(x[bad])
            raise UnknownNonlinearityError(
                f"{where} is not finite on the Gaussian's support: {name}({x0:g}) = {float(values[x == x0][0])}; "
                "sigprop needs φ and φ' finite on the whole real line"
            )
    poles = at[~(growth <= POLE_GROWTH)]
    if poles.size:
        pole = float(poles[np.argmin(np.abs(poles))])
        raise UnknownNonlinearityError(
            f"{where} has a pole near x = {pole if abs(pole) > 1e-9 else 0.0:.6g} (|φ| → ∞ there), so "
            "E[φ(√q z)²] is infinite; sigprop needs φ finite on the whole real line"
        )


def polar_nodes(kinks: tuple[float, ...]) -> int:
    """Nodes of the default 2-D polar rule for one bivariate expectation of φ with these kinks."""
    from sigprop import quadrature as qd

    one = jax.ShapeDtypeStruct((1,), jnp.float64)
    rule = functools.partial(qd.polar_rule, kinks, m_angle=qd.DEFAULT.angular_nodes, m_radius=qd.DEFAULT.panel_nodes)
    shape = jax.eval_shape(rule, one, one, one)[0].shape
    return int(shape[0] * shape[1])


def check_cost(text: str, kinks: tuple[float, ...]) -> None:
    """Refuse a φ whose kinks make one bivariate expectation cost more than :data:`MAX_POLAR_NODES` nodes.

    Raises:
      ResourceLimitError: too many kinks (the message gives the count, the nodes and the limit).
    """
    from sigprop.expression import MAX_KINKS

    if not kinks:
        return
    nodes = polar_nodes(kinks)
    if nodes > MAX_POLAR_NODES or len(kinks) >= MAX_KINKS:
        count = f"{len(kinks)}" if len(kinks) < MAX_KINKS else f"at least {MAX_KINKS}"
        raise ResourceLimitError(
            f"too many kinks: {count} in φ = {shown(text)} (each correlation would need {nodes:.2g} quadrature "
            f"nodes, at most {MAX_POLAR_NODES:.2g}: about 10 kinks); simplify φ or smooth it"
        )


@functools.lru_cache(maxsize=256)
def _custom(text: str) -> Nonlinearity:
    from sigprop.expression import find_kinks, parse_expression

    expr = parse_expression(text)
    check_support(expr.text, expr.fn)
    kinks = find_kinks(expr)
    check_cost(expr.text, kinks)
    return Nonlinearity(
        expr.text,
        expr.fn,
        kinks=kinks,
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
        raise UnknownNonlinearityError(f"nonlinearity must be a name or an expression, got {shown(spec)}")
    name = _ALIASES.get(spec.strip().lower(), spec.strip().lower())
    unknown = set(params) - {"alpha"}
    if unknown:
        raise InvalidParameterError(f"unknown nonlinearity parameter(s): {shown(', '.join(sorted(unknown)))}")
    if name in _SIMPLE or name in _PARAMETRISED:
        if params and name not in _PARAMETRISED:
            raise InvalidParameterError(f"nonlinearity {name!r} takes no parameters")
        alpha = params.get("alpha")
        return _registered(name, None if alpha is None else real(alpha, f"{name} alpha"))
    if params:
        raise InvalidParameterError("parameters apply only to registry nonlinearities")
    from sigprop.expression import ExpressionError

    try:
        return _custom(spec.strip())
    except ExpressionError as err:
        text = spec.strip()
        if text.isidentifier() and not keyword.iskeyword(text) and text != "x":
            raise UnknownNonlinearityError(
                f"unknown nonlinearity {shown(text)}; known: {', '.join(NAMES)} "
                "(or type an expression in x, e.g. 'x*sigmoid(1.702*x)')"
            ) from None
        raise UnknownNonlinearityError(f"invalid nonlinearity expression: {err}") from None
