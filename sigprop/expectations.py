"""Gaussian expectations of a nonlinearity: the integrals every mean-field map is built from.

For z, z₁, z₂ i.i.d. N(0, 1), u₁ = √qa z₁ and u₂ = √qb (c z₁ + √(1−c²) z₂):

* 1-D (Poole et al. 2016, eqs. 3 and 7):
  F(q) = E[φ(√q z)²], dF/dq = E[φ(√q z) φ'(√q z) z]/√q, G(q) = E[φ'(√q z)²].
  The form of dF/dq needs only φ', so it is exact for kinked φ too.
* bivariate (Poole et al. 2016, eq. 5): K(qa, qb, c) = E[φ(u₁)φ(u₂)] and
  Kc(qa, qb, c) = E[φ'(u₁)φ'(u₂)] = ∂K/∂Σ₁₂ (Price's theorem).

The 1-D moments use split Gauss–Legendre panels (:mod:`sigprop.quadrature`) whose edges follow the
kinks and, for smooth φ, the scales ±s/√q on which φ(√q z) varies, so they are exact at any q.
Bivariate expectations of smooth φ use the Mehler expansion K = Σ_k b_k(qa) b_k(qb) c^k with
b_k(q) = E[φ(√q z) h_k(z)], h_k = He_k/√k! (n Gauss–Hermite nodes); by Stein's lemma
Kc = Σ_k (k+1) b_{k+1}(qa) b_{k+1}(qb) c^k / √(qa qb). Its truncation is bounded by
|c|^{n−1}(G − Σ_k k b_k²/q), measured against the exact 1-D G (:func:`mehler_error_bound`); where
that bound is too large (large q, c near 1: φ(√q z) nearly a step) the nested 2-D rule is used
instead. Kinked φ use the split polar rule. φ' always comes from JAX (``jax.jvp``), never from a typed formula.

All functions take arrays of N points (last axis) and are jitted by their callers.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from sigprop import quadrature as qd
from sigprop.nonlinearities import Nonlinearity

Q_TINY = 1e-300
"""Smallest variance at which φ(√q z) is evaluated (keeps E[φφ'z]/√q finite as q → 0)."""


class Moments(NamedTuple):
    """1-D moments of φ at N variances q (arrays (N,)); ``coeffs`` (n, N) are the Mehler
    coefficients b_k(q) for smooth φ (shape (0, N) for kinked φ or when not asked for), and
    ``tail`` = G − Σ_{k<n} k b_k²/q ≥ 0 what the n terms miss of Kc at c = 1 (0 when not asked for)."""

    F: jax.Array
    dF: jax.Array
    G: jax.Array
    coeffs: jax.Array
    tail: jax.Array = 0.0


def value_and_derivative(phi: Nonlinearity, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """φ(x) and φ'(x) for elementwise φ, by one forward-mode pass."""
    return jax.jvp(phi.fn, (x,), (jnp.ones_like(x),))


def _weighted(w: jax.Array, values: jax.Array) -> jax.Array:
    """w·values, with 0 where w = 0: split rules contain zero-width panels (a kink on a fixed
    panel edge, or beyond the truncation) whose nodes sit on the kink, where φ' may be infinite."""
    return jnp.where(w == 0.0, 0.0, w * values)


def _nodes_1d(phi: Nonlinearity, quad: qd.Quadrature, sqrt_q: jax.Array):
    """The 1-D rule: panels split at the kinks and, for smooth φ, at the scales ±s/√q on which φ
    varies (:func:`sigprop.quadrature.x_breaks`), so the moments stay exact at any q."""
    if phi.is_smooth:
        return qd.split_normal_rule(qd.x_breaks(()), sqrt_q, quad.scale_nodes)
    return qd.split_normal_rule(phi.kinks, sqrt_q, quad.panel_nodes)


def mehler_coefficients(phi: Nonlinearity, quad: qd.Quadrature, sqrt_q: jax.Array) -> jax.Array:
    """b_k(q) = E[φ(√q z) h_k(z)], k < n = ``quad.hermite_degree``, from n Gauss–Hermite nodes (n, N).

    Exact (to rounding) only while n-node Gauss–Hermite resolves φ(√q z); :attr:`Moments.tail`
    measures that against the scale-following 1-D rule."""
    z, _ = qd.gauss_hermite(quad.hermite_degree)
    f = phi.fn(jnp.asarray(z)[:, None] * sqrt_q)
    return jnp.asarray(qd.hermite_projector(quad.hermite_degree)).T @ f


def moments(phi: Nonlinearity, quad: qd.Quadrature, q: jax.Array, coeffs: bool = False) -> Moments:
    """F(q), dF/dq, G(q) and (optionally, smooth φ only) b_k(q) and the Mehler tail, for q (N,)."""
    sqrt_q = jnp.sqrt(jnp.maximum(q, Q_TINY))
    z, w = _nodes_1d(phi, quad, sqrt_q)
    f, df = value_and_derivative(phi, sqrt_q * z)  # (nodes, N)
    G = jnp.sum(_weighted(w, df * df), axis=0)
    if coeffs and phi.is_smooth:
        b = mehler_coefficients(phi, quad, sqrt_q)
        k = jnp.arange(b.shape[0], dtype=b.dtype)[:, None]
        tail = jnp.abs(G - jnp.sum(k * b * b, axis=0) / jnp.maximum(q, Q_TINY))
    else:
        b, tail = jnp.zeros((0, q.shape[0])), jnp.zeros_like(q)
    return Moments(
        F=jnp.sum(_weighted(w, f * f), axis=0),
        dF=jnp.sum(_weighted(w, f * df * z), axis=0) / sqrt_q,
        G=G,
        coeffs=b,
        tail=tail,
    )


def _horner(a: jax.Array, d: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Σ_k a_k c^k and Σ_k d_k c^k for coefficient arrays (n, N) and c (N,), by Horner's rule."""
    n = a.shape[0]

    def body(i, acc):
        k = n - 1 - i
        return acc[0] * c + a[k], acc[1] * c + d[k]

    zero = jnp.zeros_like(c)
    return jax.lax.fori_loop(0, n, body, (zero, zero), unroll=8)


def mehler(ba: jax.Array, bb: jax.Array, qa: jax.Array, qb: jax.Array, c: jax.Array):
    """K and Kc from Mehler coefficients ``ba = b(qa)``, ``bb = b(qb)`` (n, N) (smooth φ)."""
    n = ba.shape[0]
    k = jnp.arange(1, n, dtype=ba.dtype)[:, None]
    scale = jnp.sqrt(jnp.maximum(qa, Q_TINY) * jnp.maximum(qb, Q_TINY))
    a = ba * bb
    d = jnp.concatenate([k * a[1:], jnp.zeros_like(a[:1])]) / scale
    return _horner(a, d, c)


def _bivariate_rule(phi: Nonlinearity, quad: qd.Quadrature, sqa, sqb, c):
    """The exact 2-D rule: split polar panels for kinked φ, the nested scale-following rule for
    smooth φ (:mod:`sigprop.quadrature`)."""
    if phi.is_smooth:
        return qd.nested_rule(qd.x_breaks(()), sqa, sqb, c, quad.nested_nodes)
    return qd.polar_rule(phi.kinks, sqa, sqb, c, quad.angular_nodes, quad.panel_nodes)


def bivariate_direct(phi: Nonlinearity, quad: qd.Quadrature, qa, qb, c):
    """K and Kc by the exact 2-D rule (no Mehler series), for any φ, q and c."""
    sqa = jnp.sqrt(jnp.maximum(qa, Q_TINY))
    sqb = jnp.sqrt(jnp.maximum(qb, Q_TINY))
    u1, u2, w = _bivariate_rule(phi, quad, sqa, sqb, c)
    f1, d1 = value_and_derivative(phi, u1)
    f2, d2 = value_and_derivative(phi, u2)
    return jnp.sum(_weighted(w, f1 * f2), axis=(0, 1)), jnp.sum(_weighted(w, d1 * d2), axis=(0, 1))


bivariate_polar = bivariate_direct
"""The kinked-φ name of :func:`bivariate_direct` (kept for its callers)."""


def secant_slope(phi: Nonlinearity, quad: qd.Quadrature, q, c):
    """½E[(φ(u₁) − φ(u₂))²]/(1 − c) and E[φ'(u₁)φ'(u₂)] at variance q, by the exact 2-D rule.

    The first is (E[φ²] − K)/(1 − c) computed without cancellation as c → 1; it is finite there
    (→ q E[φ'²]) and is what conditions the correlation fixed point near criticality.
    """
    sq = jnp.sqrt(jnp.maximum(q, Q_TINY))
    u1, u2, w = _bivariate_rule(phi, quad, sq, sq, c)
    f1, d1 = value_and_derivative(phi, u1)
    f2, d2 = value_and_derivative(phi, u2)
    gap = 0.5 * jnp.sum(_weighted(w, (f1 - f2) ** 2), axis=(0, 1)) / jnp.maximum(1.0 - c, 1e-300)
    return gap, jnp.sum(_weighted(w, d1 * d2), axis=(0, 1))


secant_slope_polar = secant_slope
"""The kinked-φ name of :func:`secant_slope` (kept for its callers)."""


MEHLER_TOL = 1e-11
"""The Mehler series is used where its error bound, c^{n−1}·tail (tail: :attr:`Moments.tail`), is
below this (absolute, on Kc and on K/q); elsewhere the exact 2-D rule is. Measured against the
nested rule (tanh, sigmoid, GELU, sin, q ≤ 20, c ∈ [0, 1 − 1e-6]) the true error is at most ~3× the
bound, so accepted values are within ~3e-11 of exact."""
ALIASING_TOL = 1e-7
"""Where tail > this·G, n-node Gauss–Hermite does not resolve φ(√q z) and even the low Mehler
coefficients are aliased (sigmoid at q = 20, tail/G = 5e-7: K off by 1e-10 at c = 0.3), so the
series is not used at any c."""


def mehler_error_bound(m: Moments, q, c):
    """Bound on the error of the n-term Mehler K/q and Kc at c ∈ [−1, 1]: |c|^{n−1}·tail.

    Σ_{k≥n} k b_k² |c|^{k−1}/q ≤ |c|^{n−1} Σ_{k≥n} k b_k²/q, and K/q's remainder is smaller still.
    The tail is measured against the exact 1-D G, so it also catches Gauss–Hermite aliasing."""
    n = m.coeffs.shape[0]
    return jnp.abs(c) ** (n - 1) * m.tail + jnp.where(m.tail > ALIASING_TOL * m.G, jnp.inf, 0.0)


def bivariate(phi: Nonlinearity, quad: qd.Quadrature, qa, qb, c) -> tuple[jax.Array, jax.Array]:
    """K(qa, qb, c) = E[φ(u₁)φ(u₂)] and Kc(qa, qb, c) = E[φ'(u₁)φ'(u₂)] for arrays (N,).

    Smooth φ: the Mehler series where :func:`mehler_error_bound` allows it, else the nested
    2-D rule (only computed when some point needs it)."""
    if phi.is_smooth:
        ma = moments(phi, quad, qa, coeffs=True)
        mb = moments(phi, quad, qb, coeffs=True)
        K, Kc = mehler(ma.coeffs, mb.coeffs, qa, qb, c)
        bad = jnp.maximum(mehler_error_bound(ma, qa, c), mehler_error_bound(mb, qb, c)) > MEHLER_TOL

        def direct():
            Kd, Kcd = bivariate_direct(phi, quad, qa, qb, c)
            return jnp.where(bad, Kd, K), jnp.where(bad, Kcd, Kc)

        return jax.lax.cond(jnp.any(bad), direct, lambda: (K, Kc))
    return bivariate_direct(phi, quad, qa, qb, c)


def correlation_kernel(phi: Nonlinearity, quad: qd.Quadrature, q: jax.Array, coeffs: jax.Array):
    """A function c ↦ (K(q, q, c), Kc(q, q, c)) at fixed variances q (N,).

    For smooth φ it closes over the Mehler coefficients ``coeffs`` = b(q) (from
    :func:`moments`), so every call is a Horner pass; this is what makes correlation-map fixed
    points cheap on whole grids. Kinked φ use the polar rule at each call.
    """
    if phi.is_smooth:
        return lambda c: mehler(coeffs, coeffs, q, q, c)
    return lambda c: bivariate_polar(phi, quad, q, q, c)
