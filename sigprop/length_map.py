"""The length map, its fixed point q*, its slope and the depth scale ξ_q.

Poole et al. 2016 (eq. 3) with dropout as in Schoenholz et al. 2017 (§5):

    V(q) = σ_w²/ρ · E[φ(√q z)²] + σ_b²,      q* = V(q*),
    V'(q*) = σ_w²/ρ · E[φ(√q* z) φ'(√q* z) z]/√q*,      ξ_q = −1/log V'(q*).

q* is the fixed point the network reaches from q⁰ (default 1), q* = lim V^l(q⁰): with V
increasing, the largest root below q⁰ if V(q⁰) < q⁰, the smallest above it otherwise. It is found
by Newton's method on V(q) − q inside a bracket that keeps that root (so V'(q*) ≤ 1: never an
unstable fixed point), after a cheap coarse-rule solve gives the start; no root above q⁰ means
the map diverges.

Divergence is decided by that search, not by the asymptotic slope s = lim V(q)/q = σ_w²/ρ·growth
alone: GELU and SiLU with s slightly above 1 still fall from q⁰ = 1 to a small q*, which then only
attracts locally (beyond an unstable fixed point q^l grows), and softplus at s = 1 diverges
because V(q) > q for every q. Only for positively homogeneous φ (V linear) is s the whole story:
s > 1, or s = 1 with σ_b² > 0, diverges; s = 1 with σ_b² = 0 is *marginal* (V(q) = q).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from sigprop import quadrature as qd
from sigprop.expectations import Q_TINY, moments
from sigprop.nonlinearities import Nonlinearity

MAX_ITER = 160
"""Iterations of the q* solver: the upward search from q⁰ = 1 to Q_MAX takes ≤ 75 of them."""
Q_MAX = 1e250
"""q beyond this counts as infinite: the length map diverges."""
FAST_GROWTH = 1e10
"""Above this q the upward search multiplies q by 1e6 per step instead of 2."""
MARGINAL_TOL = 1e-12
CRITICAL_TOL = 1e-13
"""A slope within this of 1 is critical: its depth scale is reported as +inf."""

# Status codes of a point (stored in phase-diagram grids as ``status``).
OK, DIVERGES, MARGINAL, UNRESOLVED, NONFINITE = 0, 1, 2, 3, 4
STATUS_TEXT = {
    OK: "ok",
    DIVERGES: "the length map diverges (no finite q*)",
    MARGINAL: "the length map is marginal: V(q) = q for every q (q* is reported as its σ_b² → 0 limit, 0)",
    UNRESOLVED: "no stable fixed point of the length map was found from q⁰",
    NONFINITE: "a Gaussian expectation of φ or φ' is not finite (φ' may not be square-integrable)",
}


def length_map_values(phi: Nonlinearity, quad: qd.Quadrature, q, sigma_w2, sigma_b2, rho):
    """V(q) for an array q (N,); see the module docstring."""
    return sigma_w2 / rho * moments(phi, quad, q).F + sigma_b2


def asymptotic_slope(phi: Nonlinearity, sigma_w2, rho):
    """s = lim V(q)/q = σ_w²/ρ · growth (0 for bounded φ)."""
    return sigma_w2 / rho * phi.growth


def divergence_status(phi: Nonlinearity, sigma_w2, sigma_b2, rho):
    """OK, DIVERGES or MARGINAL for positively homogeneous φ, whose V is linear (vectorised).

    For them E[φ(√q z)²] = growth·q exactly, so V(q) = s q + σ_b² and the slope s decides:
    s < 1: q* = σ_b²/(1 − s); s > 1, or s = 1 with σ_b² > 0: q → ∞; s = 1, σ_b² = 0: marginal.
    Every other φ is decided by :func:`_solve_from_q0` (OK here).
    """
    sigma_w2, sigma_b2 = jnp.broadcast_arrays(sigma_w2, sigma_b2)
    if not phi.homogeneous or phi.growth == 0.0 or math.isinf(phi.growth):
        return jnp.full(jnp.shape(sigma_w2 * sigma_b2 * rho), OK)
    slope_inf = asymptotic_slope(phi, sigma_w2, rho)
    at_edge = jnp.abs(slope_inf - 1.0) <= MARGINAL_TOL
    return jnp.where(at_edge & (sigma_b2 == 0.0), MARGINAL, jnp.where(at_edge | (slope_inf > 1.0), DIVERGES, OK))


def _map_residual(phi, quad, a, sigma_b2, q):
    """h(q) = V(q) − q, h'(q) = V'(q) − 1 and V(q)."""
    m = moments(phi, quad, q)
    v = a * m.F + sigma_b2
    return v - q, a * m.dF - 1.0, v


def _solve_from_q0(phi, quad, a, sigma_b2, x0, lo, hi, done, rtol):
    """The limit of q^{l+1} = V(q^l): safeguarded Newton on h(q) = V(q) − q inside a bracket.

    The bracket [lo, hi] keeps h(lo) ≥ 0 > h(hi), so the root found is one where V crosses the
    diagonal from above, V'(q*) ≤ 1: never an unstable fixed point. From q⁰ with h(q⁰) < 0 the
    network's q^l decreases to the largest root below q⁰, so the bracket starts as [0, q⁰]
    (h(0) = V(0) ≥ 0); with h(q⁰) > 0 it increases to the smallest root above, and the bracket
    starts as [q⁰, ∞): while hi = ∞ the iterate grows (Newton's step if it points up, else
    max(V(q), 2q); ×10⁶ per step beyond :data:`FAST_GROWTH`) until h < 0 is seen, or past
    :data:`Q_MAX` (the map diverges). A sign of h within its rounding noise ~ε·(V + q) is not
    trusted while hi = ∞: at V(q)/q → 1 (softplus at σ_w² = 2) h/q falls below ε at large q.
    Inside a finite bracket Newton's step is taken when it stays inside and at least halves the
    last step, otherwise the bracket is bisected (geometrically when it spans a factor > 4).

    Stops when the step is below ``rtol``·q, or below the rounding floor 4ε(V + q)/|h'| of the
    root (what float64 allows near a double root, e.g. σ_b² = 0 just above the transition), or once
    the steps shrink quadratically and the predicted error Δ_k³/Δ_{k−1}² is below ``rtol``·q.

    Args:
      x0: first iterate; lo, hi: the bracket (hi may be inf); done: points left alone.
    Returns:
      (q, lo, hi, converged); q = inf where the map diverges.
    """
    eps = jnp.finfo(jnp.float64).eps

    def step(state):
        x, lo, hi, conv_old, it, last = state
        h, hp, v = _map_residual(phi, quad, a, sigma_b2, x)
        noise_h = 4.0 * eps * (jnp.abs(v) + x)
        open_top = ~jnp.isfinite(hi)
        # x lies above the root; while hi = ∞ a negative h within rounding counts only if Newton
        # puts the root close (drift at V(q)/q → 1 has |h/h'| ~ q)
        near = (jnp.abs(h) <= 1e-3 * x * jnp.abs(hp)) & (jnp.abs(hp) > 1e-10)
        below = jnp.where(open_top, (h < -noise_h) | ((h < 0.0) & near), h < 0.0)
        # V(q) = q to rounding, slope included, on the way up: q^l creeps up by less than float64
        # resolves (V(q)/q → 1, softplus at σ_w² = 2 beyond q ~ 1e10): the map diverges
        drift = open_top & (jnp.abs(h) <= noise_h) & (jnp.abs(hp) <= 1e-10)
        lo = jnp.where(below, lo, jnp.where(drift, jnp.inf, jnp.maximum(lo, x)))
        hi = jnp.where(below, jnp.minimum(hi, x), hi)
        newton = x - h / jnp.where(hp == 0.0, 1.0, hp)
        n_ok = (hp != 0.0) & jnp.isfinite(newton) & (newton > lo) & (newton < hi)
        grow = jnp.where(x < FAST_GROWTH, 2.0, 1e6) * jnp.maximum(x, 1e-300)
        up = jnp.where(n_ok & (newton <= grow), newton, jnp.maximum(v, grow))
        n_ok_bounded = n_ok & (jnp.abs(newton - x) <= 0.5 * last)
        floor = jnp.maximum(lo, 1e-30 * hi)
        mid = jnp.where(hi > 4.0 * floor, jnp.sqrt(floor * hi), 0.5 * (lo + hi))
        bounded = jnp.isfinite(hi)
        x_new = jnp.where(bounded, jnp.where(n_ok_bounded, newton, mid), up)
        x_new = jnp.where(jnp.isfinite(x_new), x_new, jnp.inf)
        delta = jnp.abs(x_new - x)
        noise_q = noise_h / jnp.maximum(jnp.abs(hp), 1e-300)
        newton_taken = jnp.where(bounded, n_ok_bounded, n_ok & (newton <= grow))
        predicted = delta**3 / jnp.maximum(last, 1e-300) ** 2
        conv = (
            ((h == 0.0) & ~drift)
            | (newton_taken & (delta <= rtol * x_new + jnp.where(bounded, noise_q, 0.0) + 1e-300))
            | (newton_taken & jnp.isfinite(last) & (delta <= 0.01 * last) & (predicted <= rtol * x_new))
            | (bounded & (hi - lo <= rtol * hi))
            | (lo >= Q_MAX)
        )
        x_out = jnp.where((h == 0.0) & ~drift, x, jnp.where(lo >= Q_MAX, jnp.inf, x_new))
        keep = conv_old
        return (
            jnp.where(keep, x, x_out),
            lo,
            hi,
            keep | conv,
            it + 1,
            jnp.where(keep, last, jnp.where(bounded, delta, jnp.inf)),
        )

    def cond(state):
        return jnp.any(~state[3]) & (state[4] < MAX_ITER)

    # (built from ``done`` so that under shard_map every carry varies over the tiles, as its output)
    init = (jnp.where(done, x0, x0), lo, hi, done, 0, jnp.where(done, jnp.inf, jnp.inf))
    x, lo, hi, conv, _, _ = jax.lax.while_loop(cond, step, init)
    return x, lo, hi, conv


def solve_q_star(phi: Nonlinearity, quad: qd.Quadrature, sigma_w2, sigma_b2, rho, q0=1.0):
    """q* = lim V^l(q⁰) and its status for arrays of N points (shape (N,)).

    A cheap coarse-rule solve (:func:`_solve_from_q0`, which also decides divergence) gives the
    start, and the full rule polishes it inside a fresh bracket. Positively homogeneous φ are
    decided exactly by :func:`divergence_status`.

    Returns:
      (q_star, status): q* = +inf where the map diverges, 0 where it is marginal. The root is one
      where V crosses the diagonal from above (V'(q*) ≤ 1); the caller still checks V'(q*) (see
      :func:`sigprop.point.point_kernel`).
    """
    a = sigma_w2 / rho
    sigma_b2 = jnp.broadcast_to(sigma_b2, jnp.shape(a))
    status = divergence_status(phi, sigma_w2, sigma_b2, rho)
    # With σ_b² = 0 and φ(0) = 0, q = 0 is a fixed point; when V'(0) ≤ 1 it is the attractor
    # (V(q)/q is non-increasing for the registry φ). V'(0) is a·E[z²]φ'(0)², so "≤ 1" allows the
    # rounding of E[z²] (4ε): hard tanh at σ_w² = 1 + 1e-13 already has q* ≈ 0.017.
    phi_at_0, dphi_at_0 = (v[0] for v in jax.jvp(phi.fn, (jnp.zeros(1),), (jnp.ones(1),)))
    if phi.is_smooth:  # F(q) = q φ'(0)² + O(q²) when φ(0) = 0: V'(0) = a φ'(0)², exactly
        slope_at_0 = a * dphi_at_0**2
    else:  # a kink at 0 (ReLU) changes that; the full rule (the coarse one is 1e-7 off)
        slope_at_0 = a * moments(phi, quad, jnp.full(jnp.shape(a), Q_TINY)).dF
    zero = (status == OK) & (sigma_b2 == 0.0) & (phi_at_0 == 0.0) & (slope_at_0 <= 1.0 + 4 * jnp.finfo(a.dtype).eps)
    skip = (status != OK) | zero
    start = jnp.broadcast_to(jnp.asarray(q0, dtype=jnp.float64), skip.shape)
    h0, _, v0 = _map_residual(phi, quad.coarse(), a, sigma_b2, start)
    down = h0 < 0.0
    rough, lo_c, _, conv_c = _solve_from_q0(
        phi, quad.coarse(), a, sigma_b2, start, jnp.where(down, 0.0, start), jnp.where(down, start, jnp.inf), skip, 1e-6
    )
    # polish with the full rule inside its own bracket from q⁰ (the coarse rule may even get the
    # side wrong: hard tanh just above σ_w² = 1 has h(q) ~ 1e-10·q), from the coarse root when it
    # lies in that bracket, or from beyond Q_MAX where the coarse solve diverged. The side of q⁰
    # is the coarse rule's where its residual is clearly signed; the full rule is
    # evaluated (for the whole batch: a grid pass) only when some point is ambiguous
    clear = jnp.abs(h0) > 1e-6 * (jnp.abs(v0) + start)
    down = jax.lax.cond(
        jnp.all(clear | skip),
        lambda: h0 < 0.0,
        lambda: jnp.where(clear, h0 < 0.0, _map_residual(phi, quad, a, sigma_b2, start)[0] < 0.0),
    )
    lo, hi = jnp.where(down, 0.0, start), jnp.where(down, start, jnp.inf)
    x0 = jnp.where(conv_c, jnp.where(jnp.isfinite(rough), rough, lo_c), start)
    x0 = jnp.where((x0 > lo) & (x0 < hi), x0, start)
    q, _, hi, converged = _solve_from_q0(phi, quad, a, sigma_b2, x0, lo, hi, skip, 2 * jnp.finfo(a.dtype).eps)
    q = jnp.where(q < 1e-250, 0.0, q)  # the σ_b² = 0 ordered fixed point is exactly 0
    diverged = ~jnp.isfinite(q) | (~converged & ~jnp.isfinite(hi))
    status = jnp.where(status == OK, jnp.where(diverged, DIVERGES, jnp.where(converged, OK, UNRESOLVED)), status)
    q = jnp.where(status == OK, jnp.where(zero, 0.0, q), jnp.where(status == MARGINAL, 0.0, jnp.inf))
    return q, status


def depth_scale(slope):
    """ξ = −1/log|slope| for a contracting map (|slope| < 1); +inf when |slope| ≥ 1 − 1e-13.

    Schoenholz et al. 2017, eqs. 4 and 9: perturbations of a fixed point decay like e^{−l/ξ}.
    """
    s = jnp.abs(jnp.asarray(slope))
    xi = -1.0 / jnp.log(jnp.clip(s, 1e-300, 1.0 - 1e-16))
    return jnp.where(s >= 1.0 - CRITICAL_TOL, jnp.inf, jnp.where(s == 0.0, 0.0, xi))
