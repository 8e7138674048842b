"""The length map, its fixed point q*, its slope and the depth scale ξ_q.

Poole et al. 2016 (eq. 3) with dropout as in Schoenholz et al. 2017 (§5):

    V(q) = σ_w²/ρ · E[φ(√q z)²] + σ_b²,      q* = V(q*),
    V'(q*) = σ_w²/ρ · E[φ(√q* z) φ'(√q* z) z]/√q*,      ξ_q = −1/log V'(q*).

q* is the stable fixed point reached from q⁰ (default 1). It is found by Newton's method on
V(q) − q, safeguarded by plain iteration, after a cheap coarse-rule solve gives the start.

Whether q* is finite is decided from the growth of φ: V(q)/q → σ_w²/ρ · growth as q → ∞, so
the length map diverges when σ_w²/ρ · growth > 1 (ReLU: σ_w² > 2ρ). At equality, positively
homogeneous φ diverge for σ_b² > 0 and are *marginal* (V(q) = q) for σ_b² = 0; for other φ the
sub-leading terms decide (GELU and SiLU keep a finite q*, softplus and ELU diverge), so we solve
and report divergence when Newton's method does not converge.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from sigprop import quadrature as qd
from sigprop.expectations import Q_TINY, moments
from sigprop.nonlinearities import Nonlinearity

MAX_NEWTON = 80
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


def divergence_status(phi: Nonlinearity, sigma_w2, sigma_b2, rho):
    """OK, DIVERGES or MARGINAL from the asymptotic slope σ_w²/ρ · growth of V (vectorised)."""
    if phi.growth == 0.0 or math.isinf(phi.growth):
        return jnp.full(jnp.shape(sigma_w2 * sigma_b2 * rho), OK)
    sigma_w2, sigma_b2 = jnp.broadcast_arrays(sigma_w2, sigma_b2)
    slope_inf = sigma_w2 / rho * phi.growth
    at_edge = jnp.abs(slope_inf - 1.0) <= MARGINAL_TOL
    if not phi.homogeneous:
        return jnp.where((slope_inf > 1.0) & ~at_edge, DIVERGES, OK)
    return jnp.where(at_edge & (sigma_b2 == 0.0), MARGINAL, jnp.where(at_edge | (slope_inf > 1.0), DIVERGES, OK))


def _newton_q(phi, quad, a, sigma_b2, q_init, done, rtol):
    """Safeguarded Newton iteration for V(q) = q; ``done`` points are left alone.

    Stops when the step is below ``rtol``·q (+1e-280 absolute, for q* → 0, + the rounding floor of
    g/g'), or, once the steps
    shrink quadratically (Δ_k ≤ Δ_{k−1}/100), when the error of the new iterate predicted from
    the last two steps, e_{k+1} ≈ Δ_k³/Δ_{k−1}², is below ``rtol``·q: that saves the confirming
    iteration without trusting a small step near a double root, where convergence is linear.
    Returns (q, converged).
    """

    def step(state):
        q, conv_old, it, last = state
        m = moments(phi, quad, q)
        g = a * m.F + sigma_b2 - q
        gp = a * m.dF - 1.0
        newton = q - g / jnp.where(gp < 0.0, gp, -1.0)
        plain = a * m.F + sigma_b2
        ok = (gp < -1e-13) & (newton >= 0.0) & jnp.isfinite(newton)
        q_new = jnp.where(ok, newton, plain)
        q_new = jnp.where(jnp.isfinite(q_new), jnp.maximum(q_new, 0.0), jnp.inf)
        delta = jnp.abs(q_new - q)
        # g = aF + σ_b² − q is known only to ~ε·(aF + σ_b² + q); a step below that over |g'| is
        # rounding noise (it matters near double roots, e.g. σ_b² = 0 just above criticality)
        noise = 8.0 * jnp.finfo(q.dtype).eps * (a * m.F + sigma_b2 + q) / jnp.maximum(-gp, 1e-300)
        predicted = jnp.where(ok & (last > 0.0), delta**3 / jnp.maximum(last, 1e-300) ** 2, jnp.inf)
        conv = (
            (delta <= rtol * q_new + 1e-280 + jnp.where(ok, noise, 0.0))
            | (ok & (delta <= 0.01 * last) & (predicted <= rtol * q_new))
            | ~jnp.isfinite(q_new)
            | (q_new > 1e300)
        )
        return jnp.where(conv_old, q, q_new), conv_old | conv, it + 1, delta

    def cond(state):
        return jnp.any(~state[1]) & (state[2] < MAX_NEWTON)

    q, conv, _, _ = jax.lax.while_loop(cond, step, (q_init, done, 0, jnp.zeros_like(q_init)))
    return q, conv


def solve_q_star(phi: Nonlinearity, quad: qd.Quadrature, sigma_w2, sigma_b2, rho, q0=1.0):
    """q* and its status for arrays of N points (shape (N,)).

    Returns:
      (q_star, status): q* = +inf where the map diverges, 0 where it is marginal. A q* that is
      not a stable fixed point must still be flagged by the caller from V'(q*) (see
      :func:`sigprop.point.point_kernel`).
    """
    a = sigma_w2 / rho
    status = divergence_status(phi, sigma_w2, sigma_b2, rho)
    # With σ_b² = 0 and φ(0) = 0, q = 0 is a fixed point; when V'(0) ≤ 1 it is the attractor
    # (V(q)/q is non-increasing for the registry φ), and Newton would crawl to this double root.
    phi_at_0 = phi.fn(jnp.zeros(1))[0]
    slope_at_0 = a * moments(phi, quad.coarse(), jnp.full(jnp.shape(a), Q_TINY)).dF
    zero = (status == OK) & (sigma_b2 == 0.0) & (phi_at_0 == 0.0) & (slope_at_0 <= 1.0 + CRITICAL_TOL)
    skip = (status != OK) | zero
    start = jnp.where(skip, 0.0, jnp.broadcast_to(jnp.asarray(q0, dtype=jnp.float64), skip.shape))
    rough, _ = _newton_q(phi, quad.coarse(), a, sigma_b2, start, skip, 1e-6)
    rough = jnp.where(jnp.isfinite(rough) & (rough < 1e250), rough, start)
    q, converged = _newton_q(phi, quad, a, sigma_b2, rough, skip, 1e-14)
    q = jnp.where(q < 1e-250, 0.0, q)  # the σ_b² = 0 ordered fixed point is exactly 0
    failed = (status == OK) & (~converged | ~jnp.isfinite(q) | (q > 1e250))
    # failing where V(q)/q tends to ≥ 1 (or φ grows faster than linearly) means q → ∞
    escapes = (a * phi.growth >= 1.0 - MARGINAL_TOL) | (q > 1e250) | ~jnp.isfinite(q)
    status = jnp.where(failed, jnp.where(escapes, DIVERGES, UNRESOLVED), status)
    q = jnp.where(status == OK, jnp.where(zero, 0.0, q), jnp.where(status == MARGINAL, 0.0, jnp.inf))
    return q, status


def depth_scale(slope):
    """ξ = −1/log|slope| for a contracting map (|slope| < 1); +inf when |slope| ≥ 1 − 1e-13.

    Schoenholz et al. 2017, eqs. 4 and 9: perturbations of a fixed point decay like e^{−l/ξ}.
    """
    s = jnp.abs(jnp.asarray(slope))
    xi = -1.0 / jnp.log(jnp.clip(s, 1e-300, 1.0 - 1e-16))
    return jnp.where(s >= 1.0 - CRITICAL_TOL, jnp.inf, jnp.where(s == 0.0, 0.0, xi))
