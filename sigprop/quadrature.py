"""Quadrature rules for Gaussian expectations: the only place nodes and weights are made.

The rules, all with static shapes so that nothing retraces:

* **Gauss–Hermite** (probabilists'), for smooth φ: ``E[f(z)] ≈ Σ_i w_i f(x_i)``. With it come
  the orthonormal Hermite polynomials h_k = He_k/√k! at the nodes, used for the Mehler expansion
  of bivariate expectations (:mod:`sigprop.expectations`).
* **Split Gauss–Legendre panels** on ``[-Z, Z]``: the panel edges include the kinks (which move
  with q) and, for smooth φ, the scales ±s/√q on which φ(√q z) varies (:data:`SCALES`), so every
  panel integrates a smooth, resolved function at any q (1e-16 for tanh, erf, GELU, SiLU, sigmoid,
  softplus from q = 1e-3 to 1e6; sin, which oscillates: 1e-11 at q = 30, 1e-6 at q = 100).
* **Nested panels** for bivariate expectations of smooth φ where the Mehler series converges too
  slowly: a split rule in z₁, and per outer node a split rule in z₂ (:func:`nested_rule`).
* **Polar panels** for bivariate expectations of kinked φ: in polar coordinates the kinks of
  φ(u₁)φ(u₂) lie on rays (split in angle) and at radii that move smoothly with the angle
  (split in radius), so again every panel is smooth, including as c → 1.

Nodes are built once in NumPy (outside jit) and closed over, as in neural-tangents. Rules are
batched: quadrature nodes lie on axis 0 and the N evaluation points on the last axis, so the
hot loops run over contiguous rows.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from scipy.special import roots_hermitenorm, roots_legendre

from sigprop import _config  # noqa: F401  (float64)
from sigprop.errors import InvalidParameterError
from sigprop.validation import integer_fields

TRUNCATION = 10.0
"""Half-width Z of the panel rules in z: the Gaussian mass beyond it is erfc(Z/√2) ≈ 1.5e-23."""

_BASE_BREAKS = np.linspace(-TRUNCATION, TRUNCATION, 11)
"""Fixed panel edges in z (width 2): 16 Gauss–Legendre nodes per panel integrate e^{-z²/2}·poly
to ~1e-16 on each."""

_RADIAL_BREAKS = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.5, 7.5, TRUNCATION])
"""Fixed radial panel edges for the polar rule; r e^{-r²/2} is negligible beyond r = 10."""


@dataclass(frozen=True)
class Quadrature:
    """Degrees of the quadrature rules.

    Attributes:
      hermite_degree: Gauss–Hermite nodes for the Mehler coefficients of smooth φ, and the
        number of Mehler terms. Where they do not resolve φ(√q z) the exact nested rule is used
        instead (:func:`sigprop.expectations.mehler_error_bound`), so this sets speed, not accuracy.
      panel_nodes: Gauss–Legendre nodes per panel for kinked φ.
      angular_nodes: Gauss–Legendre nodes per angular panel of the polar rule.
      scale_nodes: Gauss–Legendre nodes per panel of the scale-following rule for smooth φ
        (:func:`x_breaks`): the 1-D moments F, dF/dq, G.
      nested_nodes: nodes per panel of the nested 2-D rule for smooth φ (:func:`nested_rule`),
        used where the Mehler series does not converge.
    """

    hermite_degree: int = 256
    panel_nodes: int = 16
    angular_nodes: int = 40
    scale_nodes: int = 12
    nested_nodes: int = 10

    def __post_init__(self) -> None:
        integer_fields(self)
        if not (8 <= self.hermite_degree <= 600 and self.hermite_degree % 2 == 0):
            raise InvalidParameterError("hermite_degree must be an even integer in [8, 600]")
        nodes = (self.panel_nodes, self.angular_nodes, self.scale_nodes, self.nested_nodes)
        if not all(4 <= m <= 64 for m in nodes):
            raise InvalidParameterError("panel_nodes, angular_nodes, scale_nodes and nested_nodes must be in [4, 64]")

    def coarse(self) -> Quadrature:
        """A cheap rule for initial guesses (refined afterwards by the full rule)."""
        return Quadrature(hermite_degree=32, panel_nodes=6, angular_nodes=8, scale_nodes=6, nested_nodes=6)


DEFAULT = Quadrature()
GRID = DEFAULT
"""The rule of phase diagrams: the same as :func:`sigprop.point.point`'s, so grids equal points."""


@functools.lru_cache(maxsize=32)
def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes x_i and weights w_i with Σ w_i f(x_i) ≈ E[f(z)], z ~ N(0, 1); Σ w_i = 1."""
    x, w = roots_hermitenorm(n)
    return x, w / math.sqrt(2.0 * math.pi)


@functools.lru_cache(maxsize=32)
def hermite_projector(n: int) -> np.ndarray:
    """Matrix P[i, k] = w_i h_k(x_i), so that b_k = Σ_i P[i, k] f(x_i) ≈ E[f(z) h_k(z)].

    h_k = He_k/√k! are orthonormal under N(0, 1). The recurrence runs on v_k = √w ⊙ h_k,
    which are orthonormal vectors (discrete orthogonality of Gauss–Hermite), so nothing
    overflows: v_{k+1} = (x v_k − √k v_{k−1})/√(k+1).
    """
    x, w = gauss_hermite(n)
    v = np.zeros((n, n))
    v[:, 0] = np.sqrt(w)
    v[:, 1] = x * v[:, 0]
    for k in range(1, n - 1):
        v[:, k + 1] = (x * v[:, k] - math.sqrt(k) * v[:, k - 1]) / math.sqrt(k + 1)
    return np.sqrt(w)[:, None] * v


@functools.lru_cache(maxsize=32)
def gauss_legendre(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [−1, 1]."""
    return roots_legendre(m)


def _panels(breaks: jnp.ndarray, m: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Gauss–Legendre panels between ``breaks`` sorted along axis 0 (∫ dt, not E).

    ``breaks`` has shape (P+1, *batch); nodes and weights have shape (P·m, *batch).
    """
    t, wt = gauss_legendre(m)
    extra = (1,) * (breaks.ndim - 1)
    t = jnp.asarray(t).reshape(1, m, *extra)
    wt = jnp.asarray(wt).reshape(1, m, *extra)
    lo, hi = breaks[:-1, None], breaks[1:, None]
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    shape = (-1, *breaks.shape[1:])
    return (mid + half * t).reshape(shape), (half * wt).reshape(shape)


SCALES = tuple(2.0**k for k in range(-3, 6))
"""Scales in x, 1/8 … 32, on which a nonlinearity may vary around x = 0 (tanh, sigmoid, GELU...).

Panel edges at ±s/√q (in z) for each s make the split rule resolve φ(√q z) however large q is:
between consecutive edges the panel is at most as wide as its distance from the origin (a ratio
of 2), so a pole of φ at distance ≳ 1/8 from the real axis (tanh: π/2) lies outside a Bernstein
ellipse of parameter ≳ 5.8 and 16 Gauss–Legendre nodes give ~5.8⁻³² ≈ 1e-24 per panel; beyond
x = 32 every registry φ is linear or constant to ~e⁻³², so the fixed z panels take over."""


def x_breaks(kinks: tuple[float, ...]) -> tuple[float, ...]:
    """Panel edges in x for a φ with these kinks: the kinks, 0 and ±s for s in :data:`SCALES`."""
    return tuple(sorted({0.0, *kinks, *SCALES, *(-s for s in SCALES)}))


def _split_breaks(kinks, sqrt_q, offset, base):
    """Sorted panel edges in z (P+1, *batch): ``base`` and (k − a)/√q for each break k, clipped."""
    sqrt_q = jnp.asarray(sqrt_q)
    a = jnp.zeros_like(sqrt_q) if offset is None else jnp.broadcast_to(offset, sqrt_q.shape)
    extra = (1,) * sqrt_q.ndim
    fixed = jnp.broadcast_to(jnp.asarray(base).reshape(-1, *extra), (base.size, *sqrt_q.shape))
    k = jnp.asarray(kinks, dtype=jnp.float64).reshape(-1, *extra)
    scaled = jnp.clip((k - a) / jnp.maximum(sqrt_q, 1e-300), -TRUNCATION, TRUNCATION)
    return jnp.concatenate([fixed, scaled])


def _normal_panels(edges, m: int):
    z, w = _panels(jnp.sort(edges, axis=0), m)
    return z, w * jnp.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _merge_sorted(first, second):
    """Merge two arrays sorted along axis 0 (same batch shape) without a sort: each element's
    place is its index plus the count of the other array's elements before it (XLA's CPU sort
    cost more than the rest of the 1-D rule)."""
    before_first = jnp.sum(second[None, :] < first[:, None], axis=1)  # (P1, *batch)
    before_second = jnp.sum(first[None, :] <= second[:, None], axis=1)  # (P2, *batch)
    extra = (1,) * (first.ndim - 1)
    rank = jnp.concatenate(
        [
            jnp.arange(first.shape[0]).reshape(-1, *extra) + before_first,
            jnp.arange(second.shape[0]).reshape(-1, *extra) + before_second,
        ]
    )
    values = jnp.concatenate([first, second])
    slots = jnp.arange(values.shape[0]).reshape(-1, 1, *extra)
    return jnp.sum(jnp.where(rank[None] == slots, values[None], 0.0), axis=1)


def split_normal_rule(kinks: tuple[float, ...], sqrt_q: jnp.ndarray, m: int, offset=None, base=_BASE_BREAKS):
    """Nodes z and weights w, shape (nodes, *batch), with Σ w f(a + √q z) ≈ E[f(a + √q z)],
    z ~ N(0, 1), for each of the batch's (a, √q), split where a + √q z hits a break of f.

    Args:
      kinks: panel edges in x = a + √q z (kinks of f, or :func:`x_breaks` for scale breaks too).
      sqrt_q: array (*batch) of √q ≥ 0 (√q → 0 leaves only the fixed z panels).
      m: Gauss–Legendre nodes per panel.
      offset: the shift a, broadcastable to ``sqrt_q`` (default 0).
      base: the fixed panel edges in z.
    """
    sqrt_q = jnp.asarray(sqrt_q)
    n_base = np.asarray(base).size
    edges = _split_breaks(tuple(sorted(kinks)), sqrt_q, offset, base)  # both parts sorted already
    z, w = _panels(_merge_sorted(edges[:n_base], edges[n_base:]), m)
    return z, w * jnp.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def nested_rule(breaks: tuple[float, ...], sqrt_qa, sqrt_qb, c, m: int):
    """A 2-D rule for E[f(u₁) g(u₂)] with smooth f, g that vary on the scales of ``breaks``.

    u₁ = √qa z₁ and u₂ = √qb (c z₁ + √(1−c²) z₂) = a + b z₂ with a = √qb c z₁, b = √qb √(1−c²).
    The inner rule (for each outer node) is split where u₂ crosses a break. The outer integrand
    is f(√qa z₁)·ψ(z₁), with ψ(z₁) = E[g(a + b z₂)] the Gaussian-smoothed g at a: it varies where
    √qa z₁ crosses a break and where a crosses a break scaled by max(1, b) (the smoothing width),
    so the outer rule is split at both. Every panel then holds a smooth, resolved integrand at any
    q and c ∈ [−1, 1] (as c → 1, b → 0 and the inner rule reduces to its fixed panels).

    Args:
      sqrt_qa, sqrt_qb, c: arrays (N,).

    Returns:
      (u1, u2, weights) of shape (inner nodes, outer nodes, N);
      Σ weights·f(u1)·g(u2) over the first two axes ≈ E[f(u₁)g(u₂)].
    """
    s = jnp.sqrt(jnp.maximum((1.0 - c) * (1.0 + c), 0.0))
    b = sqrt_qb * s
    smooth_scale = jnp.abs(sqrt_qb * c) / jnp.maximum(b, 1.0)  # z₁ ↦ a/max(1, b)
    scales = tuple(x for x in breaks if x != 0.0)
    outer = jnp.concatenate(
        [_split_breaks(breaks, sqrt_qa, None, _BASE_BREAKS), _split_breaks(scales, smooth_scale, None, np.zeros(0))]
    )
    z1, w1 = _normal_panels(outer, m)  # (N1, N)
    a = sqrt_qb * c * z1
    z2, w2 = split_normal_rule(breaks, jnp.broadcast_to(b, a.shape), m, offset=a)  # (N2, N1, N)
    return sqrt_qa * z1, a + b * z2, w1 * w2


def polar_rule(kinks: tuple[float, ...], sqrt_qa, sqrt_qb, c, m_angle: int, m_radius: int):
    """A 2-D rule for E[f(u₁) g(u₂)] with kinked f, g, for N points at once.

    u₁ = √qa r cos α, u₂ = √qb r cos(α − θ), c = cos θ, under the measure
    (2π)⁻¹ dα · r e^{−r²/2} dr, which is the standard bivariate normal in polar coordinates.

    Angular panels are split where cos α or cos(α − θ) changes sign, and where two kink radii
    kᵢ/(√qa cos α) and kⱼ/(√qb cos(α − θ)) cross (there the angular integrand has a jump in its
    second derivative); within each panel the kink radii move smoothly with α and are radial
    panel edges.

    Args:
      sqrt_qa, sqrt_qb, c: arrays (N,).

    Returns:
      (u1, u2, weights) of shape (radial nodes, angular nodes, N);
      Σ weights·f(u1)·g(u2) over the first two axes ≈ E[f(u₁)g(u₂)].
    """
    n = c.shape[0]
    theta = jnp.arccos(jnp.clip(c, -1.0, 1.0))
    two_pi = 2.0 * math.pi
    quarter = jnp.array([0.5, 1.5, 0.5, 1.5])[:, None] * math.pi
    sign_changes = jnp.mod(quarter + jnp.array([0.0, 0.0, 1.0, 1.0])[:, None] * theta, two_pi)
    ends = jnp.broadcast_to(jnp.array([[0.0], [two_pi]]), (2, n))
    nonzero = [k for k in kinks if k != 0.0]
    crossings = []
    # kᵢ √qb cos(α − θ) = kⱼ √qa cos α  ⇔  tan α = (r√qa − √qb cos θ)/(√qb sin θ), r = kⱼ/kᵢ;
    # the break set {α₀, α₀ + π} depends only on r, so each distinct ratio is used once
    for r in sorted({kj / ki for ki in nonzero for kj in nonzero}):
        a0 = jnp.arctan2(r * sqrt_qa - sqrt_qb * c, sqrt_qb * jnp.sin(theta))
        crossings += [jnp.mod(a0, two_pi)[None], jnp.mod(a0 + math.pi, two_pi)[None]]
    for k in sorted({abs(k) for k in nonzero}):
        # where a kink radius reaches the truncation radius (the clip there is not smooth)
        for sq, shift in ((sqrt_qa, 0.0), (sqrt_qb, theta)):
            a0 = jnp.arccos(jnp.clip(k / (sq * TRUNCATION), 0.0, 1.0))
            for base in (a0, -a0, math.pi - a0, math.pi + a0):
                crossings.append(jnp.mod(base + shift, two_pi)[None])
    a_breaks = jnp.sort(jnp.concatenate([ends, sign_changes, *crossings]), axis=0)
    alpha, w_alpha = _panels(a_breaks, m_angle)
    ca, cb = jnp.cos(alpha), jnp.cos(alpha - theta)  # (A, N)

    radial = [jnp.broadcast_to(jnp.asarray(_RADIAL_BREAKS)[:, None, None], (_RADIAL_BREAKS.size, *ca.shape))]
    for k in nonzero:
        for sq, cs in ((sqrt_qa, ca), (sqrt_qb, cb)):
            denom = sq * cs
            r = jnp.where(k * denom > 0, k / jnp.where(denom == 0, 1.0, denom), TRUNCATION)
            radial.append(jnp.clip(r, 0.0, TRUNCATION)[None])
    r, w_r = _panels(jnp.sort(jnp.concatenate(radial), axis=0), m_radius)  # (R, A, N)
    weights = (w_alpha / two_pi) * w_r * r * jnp.exp(-0.5 * r * r)
    return sqrt_qa * r * ca, sqrt_qb * r * cb, weights
