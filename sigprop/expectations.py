"""Gaussian expectations of a nonlinearity: the integrals every mean-field map is built from.

For z, z₁, z₂ i.i.d. N(0, 1), u₁ = √qa z₁ and u₂ = √qb (c z₁ + √(1−c²) z₂):

* 1-D (Poole et al. 2016, eqs. 3 and 7):
  F(q) = E[φ(√q z)²], dF/dq = E[φ(√q z) φ'(√q z) z]/√q, G(q) = E[φ'(√q z)²].
  The form of dF/dq needs only φ', so it is exact for kinked φ too.
* bivariate (Poole et al. 2016, eq. 5): K(qa, qb, c) = E[φ(u₁)φ(u₂)] and
  Kc(qa, qb, c) = E[φ'(u₁)φ'(u₂)] = ∂K/∂Σ₁₂ (Price's theorem).

Smooth φ use Gauss–Hermite and the Mehler expansion
K = Σ_k b_k(qa) b_k(qb) c^k with b_k(q) = E[φ(√q z) h_k(z)], h_k = He_k/√k!; by Stein's lemma
Kc = Σ_k (k+1) b_{k+1}(qa) b_{k+1}(qb) c^k / √(qa qb). With as many terms as nodes the expansion
at c = 1 reproduces the 1-D rule exactly. Kinked φ use the split rules of
:mod:`sigprop.quadrature`. φ' always comes from JAX (``jax.jvp``), never from a typed formula.

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
    coefficients b_k(q) for smooth φ (shape (0, N) for kinked φ or when not asked for)."""

    F: jax.Array
    dF: jax.Array
    G: jax.Array
    coeffs: jax.Array


def value_and_derivative(phi: Nonlinearity, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """φ(x) and φ'(x) for elementwise φ, by one forward-mode pass."""
    return jax.jvp(phi.fn, (x,), (jnp.ones_like(x),))


def _weighted(w: jax.Array, values: jax.Array) -> jax.Array:
    """w·values, with 0 where w = 0: split rules contain zero-width panels (a kink on a fixed
    panel edge, or beyond the truncation) whose nodes sit on the kink, where φ' may be infinite."""
    return jnp.where(w == 0.0, 0.0, w * values)


def _nodes_1d(phi: Nonlinearity, quad: qd.Quadrature, sqrt_q: jax.Array):
    if phi.is_smooth:
        z, w = qd.gauss_hermite(quad.hermite_degree)
        return jnp.asarray(z)[:, None], jnp.asarray(w)[:, None]
    return qd.split_normal_rule(phi.kinks, sqrt_q, quad.panel_nodes)


def moments(phi: Nonlinearity, quad: qd.Quadrature, q: jax.Array, coeffs: bool = False) -> Moments:
    """F(q), dF/dq, G(q) and (optionally, smooth φ only) b_k(q), for an array q of shape (N,)."""
    sqrt_q = jnp.sqrt(jnp.maximum(q, Q_TINY))
    z, w = _nodes_1d(phi, quad, sqrt_q)
    f, df = value_and_derivative(phi, sqrt_q * z)  # (nodes, N)
    if coeffs and phi.is_smooth:
        b = jnp.asarray(qd.hermite_projector(quad.hermite_degree)).T @ f
    else:
        b = jnp.zeros((0, q.shape[0]))
    weighted = (lambda w, v: w * v) if phi.is_smooth else _weighted  # Gauss–Hermite weights are > 0
    return Moments(
        F=jnp.sum(weighted(w, f * f), axis=0),
        dF=jnp.sum(weighted(w, f * df * z), axis=0) / sqrt_q,
        G=jnp.sum(weighted(w, df * df), axis=0),
        coeffs=b,
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


def bivariate_polar(phi: Nonlinearity, quad: qd.Quadrature, qa, qb, c):
    """K and Kc for kinked φ by the split polar rule (:func:`sigprop.quadrature.polar_rule`)."""
    sqa = jnp.sqrt(jnp.maximum(qa, Q_TINY))
    sqb = jnp.sqrt(jnp.maximum(qb, Q_TINY))
    u1, u2, w = qd.polar_rule(phi.kinks, sqa, sqb, c, quad.angular_nodes, quad.panel_nodes)
    f1, d1 = value_and_derivative(phi, u1)
    f2, d2 = value_and_derivative(phi, u2)
    return jnp.sum(_weighted(w, f1 * f2), axis=(0, 1)), jnp.sum(_weighted(w, d1 * d2), axis=(0, 1))


def secant_slope_polar(phi: Nonlinearity, quad: qd.Quadrature, q, c):
    """½E[(φ(u₁) − φ(u₂))²]/(1 − c) and E[φ'(u₁)φ'(u₂)] at variance q (kinked φ).

    The first is (E[φ²] − K)/(1 − c) computed without cancellation as c → 1; it is finite there
    (→ q E[φ'²]) and is what conditions the correlation fixed point near criticality.
    """
    sq = jnp.sqrt(jnp.maximum(q, Q_TINY))
    u1, u2, w = qd.polar_rule(phi.kinks, sq, sq, c, quad.angular_nodes, quad.panel_nodes)
    f1, d1 = value_and_derivative(phi, u1)
    f2, d2 = value_and_derivative(phi, u2)
    gap = 0.5 * jnp.sum(_weighted(w, (f1 - f2) ** 2), axis=(0, 1)) / jnp.maximum(1.0 - c, 1e-300)
    return gap, jnp.sum(_weighted(w, d1 * d2), axis=(0, 1))


def bivariate(phi: Nonlinearity, quad: qd.Quadrature, qa, qb, c) -> tuple[jax.Array, jax.Array]:
    """K(qa, qb, c) = E[φ(u₁)φ(u₂)] and Kc(qa, qb, c) = E[φ'(u₁)φ'(u₂)] for arrays (N,)."""
    if phi.is_smooth:
        ba = moments(phi, quad, qa, coeffs=True).coeffs
        bb = moments(phi, quad, qb, coeffs=True).coeffs
        return mehler(ba, bb, qa, qb, c)
    return bivariate_polar(phi, quad, qa, qb, c)


def correlation_kernel(phi: Nonlinearity, quad: qd.Quadrature, q: jax.Array, coeffs: jax.Array):
    """A function c ↦ (K(q, q, c), Kc(q, q, c)) at fixed variances q (N,).

    For smooth φ it closes over the Mehler coefficients ``coeffs`` = b(q) (from
    :func:`moments`), so every call is a Horner pass; this is what makes correlation-map fixed
    points cheap on whole grids. Kinked φ use the polar rule at each call.
    """
    if phi.is_smooth:
        return lambda c: mehler(coeffs, coeffs, q, q, c)
    return lambda c: bivariate_polar(phi, quad, q, q, c)
