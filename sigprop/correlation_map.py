"""The correlation map at q*, its stable fixed point c*, its slope χ_c and the depth scale ξ_c.

Poole et al. 2016 (eq. 5), Schoenholz et al. 2017 (eqs. 5–9, and §5 for dropout):

    C(c) = (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q*,   u₁ = √q* z₁, u₂ = √q* (c z₁ + √(1−c²) z₂),
    χ_c = C'(c*) = σ_w² E[φ'(u₁)φ'(u₂)] at c*,   ξ_c = −1/log χ_c.

Dropout (keep-probability ρ) scales only the diagonal of the covariance (σ_w²/ρ in q*), so
C(1) = 1 − σ_w² E[φ²](1/ρ − 1)/q* < 1 and c* < 1 for every ρ < 1.

At q* = 0 (σ_b² = 0 in the ordered phase) the map is 0/0; there σ_b² is eliminated with the
fixed-point equation, σ_b² = q − σ_w² E[φ²]/ρ, and C is evaluated at a tiny q, which gives the
correct σ_b² → 0 limit, e.g. C(c) = 1 − σ_w²φ'(0)²(1/ρ − c) for smooth φ with φ(0) = 0.

C has non-negative Mehler coefficients, so on [0, 1] it is increasing and convex. Hence without
dropout and with χ₁ ≤ 1, c* = 1 (and χ_c = χ₁). Otherwise:

* with dropout, c* is the root of C(c) = c in [0, 1), reached monotonically by Newton from the
  left;
* without dropout (χ₁ > 1) c = 1 is also a root, and near criticality the two roots nearly
  coincide, so C(c) − c is lost in rounding. We divide the trivial root out and solve
  S(c) = (1 − C(c))/(1 − c) = 1, with S increasing from S(0) ≤ 1 to S(1) = χ₁. For smooth φ,
  S(c) = Σ_j T_j c^j with T_j = σ_w²/q Σ_{k>j} b_k² (a convex polynomial; Newton from the right
  converges monotonically); for kinked φ, S = σ_w² ½E[(φ(u₁) − φ(u₂))²]/(q(1 − c)), with no
  cancellation (bracketed Newton).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from sigprop.length_map import CRITICAL_TOL

Q_FLOOR = 1e-100
"""q* below this is evaluated here: C(c) has the σ_b² → 0 limit with O(q) relative error."""

MAX_NEWTON = 200
BRACKET_NODES = 48


def correlation_map_values(kernel, sigma_w2, sigma_b2, q, c):
    """(C(c), C'(c)) at the fixed-point variance q; ``kernel`` from
    :func:`sigprop.expectations.correlation_kernel`."""
    K, Kc = kernel(c)
    return (sigma_w2 * K + sigma_b2) / q, sigma_w2 * Kc


def effective_bias(sigma_w2, sigma_b2, rho, q_star, F):
    """σ_b² to use in C at q = max(q*, Q_FLOOR): σ_b² itself, or, at q* = 0, its value
    q − σ_w² F(q)/ρ from the fixed-point equation (the σ_b² → 0 limit); F = E[φ²] at that q."""
    q = jnp.maximum(q_star, Q_FLOOR)
    return jnp.where(q_star >= Q_FLOOR, sigma_b2, q - sigma_w2 / rho * F)


@functools.lru_cache(maxsize=8)
def _bracket_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes c_j in [0, 1), denser towards 1, and the matrix c_j^k (k < n)."""
    j = np.arange(BRACKET_NODES)
    nodes = 1.0 - ((BRACKET_NODES - j) / BRACKET_NODES) ** 2
    return nodes, nodes[None, :] ** np.arange(n)[:, None]


def _last_node_where(values: jax.Array, positive: bool) -> jax.Array:
    """Per row of ``values`` (N, nodes) on the bracket nodes: the last node before the sign
    first becomes negative (``positive``) / non-negative (not ``positive``); 0 if none before."""
    nodes = jnp.asarray(_bracket_powers(1)[0])
    flip = values < 0.0 if positive else values >= 0.0
    j = jnp.where(jnp.any(flip, axis=1), jnp.argmax(flip, axis=1) - 1, BRACKET_NODES - 1)
    return jnp.where(j >= 0, nodes[jnp.maximum(j, 0)], 0.0), jnp.where(
        jnp.any(flip, axis=1), nodes[jnp.minimum(j + 1, BRACKET_NODES - 1)], 1.0
    )


def _newton(step_fn, start, done, tol=1e-14):
    """Vectorised Newton iteration c ← step_fn(c) until |Δc| ≤ tol for every point."""

    def step(state):
        c_old, conv_old, it = state
        c_new = step_fn(c_old)
        c_new = jnp.where(jnp.isfinite(c_new), c_new, c_old)
        conv = jnp.abs(c_new - c_old) <= tol
        return jnp.where(conv_old, c_old, c_new), conv_old | conv, it + 1

    def cond(state):
        _, conv, it = state
        return jnp.any(~conv) & (it < MAX_NEWTON)

    return jax.lax.while_loop(cond, step, (start, done, 0))[0]


def _dropout_c_star(kernel, coeffs, sigma_w2, sigma_b2, q, done, start=None):
    """Root of C(c) = c for ρ < 1: Newton from the left (C − c is convex, C(1) < 1)."""
    if start is None and coeffs.shape[0]:
        nodes, powers = _bracket_powers(coeffs.shape[0])
        h = (sigma_w2[:, None] * ((coeffs * coeffs).T @ powers) + sigma_b2[:, None]) / q[:, None] - nodes
        start = _last_node_where(h, positive=True)[0]
    elif start is None:
        start = jnp.zeros_like(q)

    def step(c):
        C, dC = correlation_map_values(kernel, sigma_w2, sigma_b2, q, c)
        return jnp.clip(c - (C - c) / jnp.minimum(dC - 1.0, -1e-300), c, 1.0)

    return _newton(step, jnp.where(done, 1.0, start), done)


def _tail_sums(coeffs, sigma_w2, q):
    """T_j = σ_w²/q Σ_{k>j} b_k², the coefficients of S(c) = (1 − C(c))/(1 − c) (ρ = 1).

    A reverse running sum over rows (a loop: XLA's cumsum is several times slower here).
    """
    a = sigma_w2 * coeffs * coeffs / q
    n = a.shape[0]

    def body(i, carry):
        acc, tails = carry
        j = n - 1 - i  # T_j = Σ_{k>j} a_k: store the sum before adding a_j
        return acc + a[j], tails.at[j].set(acc)

    return jax.lax.fori_loop(0, n, body, (jnp.zeros_like(a[0]), jnp.zeros_like(a)), unroll=8)[1]


def _chaotic_c_star_smooth(coeffs, sigma_w2, q, done, sigma_b2=None):
    """Root of S(c) = 1 for smooth φ, by Newton from the right (S convex and increasing).

    S(0) − 1 = −C(0) = −(σ_w² b_0² + σ_b²)/q is used for the constant term rather than T_0 − 1:
    T_0 = 1 − C(0) only at the exact q*, and near σ_b² = 0 just above the transition S is so flat
    (T_1 ~ q*²) that the residual of q* moved c* by ~0.1 (tanh at σ_w² = 1 + 1e-6). b_0 within
    rounding of 0 (odd φ) counts as 0, so C(0) = 0 and c* = 0 there.
    """
    from sigprop.expectations import _horner

    tails = _tail_sums(coeffs, sigma_w2, q)
    n = tails.shape[0]
    slope_coeffs = jnp.concatenate([jnp.arange(1, n, dtype=q.dtype)[:, None] * tails[1:], tails[:1] * 0])
    if sigma_b2 is not None:
        b0_sq = coeffs[0] ** 2
        b0_sq = jnp.where(b0_sq <= (16 * jnp.finfo(q.dtype).eps) ** 2 * jnp.sum(coeffs**2, axis=0), 0.0, b0_sq)
        tails = tails.at[0].set(1.0 - (sigma_w2 * b0_sq + sigma_b2) / q)
        excess = tails.at[0].set(-(sigma_w2 * b0_sq + sigma_b2) / q)  # S − 1, without rounding 1 − C(0)
        c_zero = excess[0] == 0.0  # C(0) = 0: c* = 0 exactly (Newton would only approach it)
    else:
        excess = tails.at[0].add(-1.0)
        c_zero = jnp.zeros_like(done)
    _, powers = _bracket_powers(n)
    s_nodes = excess.T @ powers  # S − 1 on the nodes (N, nodes)
    start = _last_node_where(-s_nodes, positive=True)[1]  # first node with S ≥ 1 (or 1)

    def step(c):
        S1, dS = _horner(excess, slope_coeffs, c)
        return jnp.clip(c - S1 / jnp.maximum(dS, 1e-300), 0.0, c)

    c = _newton(step, jnp.where(done, 1.0, jnp.where(c_zero, 0.0, start)), done | c_zero)
    return jnp.where(c_zero & ~done, 0.0, c)


def _chaotic_c_star_direct(phi, quad, sigma_w2, q, done, start=None):
    """Root of S(c) = 1 by the exact 2-D rule (kinked φ, and smooth φ where the Mehler series
    does not converge): Newton safeguarded by a bracket [lo, hi] ∋ c*.

    S is convex and increasing, so a Newton step from the right end of the bracket stays inside
    it and converges monotonically; when the step from the current point leaves the bracket
    (from the left it overshoots), the step from the right end is taken instead, and only if
    that is unavailable, bisection.
    """
    from sigprop.expectations import secant_slope

    def step(state):
        c, lo, hi, s_hi, ds_hi, conv_old, it = state
        gap, Kc = secant_slope(phi, quad, q, c)
        S, dC = sigma_w2 * gap / q, sigma_w2 * Kc
        dS = (S - dC) / jnp.maximum(1.0 - c, 1e-300)
        right = S >= 1.0
        lo = jnp.where(right, lo, c)
        hi = jnp.where(right, c, hi)
        s_hi = jnp.where(right, S, s_hi)
        ds_hi = jnp.where(right, dS, ds_hi)
        newton = c - (S - 1.0) / jnp.where(dS > 0, dS, 1.0)
        from_hi = hi - (s_hi - 1.0) / jnp.where(ds_hi > 0, ds_hi, 1.0)
        inside = (newton > lo) & (newton < hi) & (dS > 0)
        hi_ok = (hi < 1.0) & (ds_hi > 0) & (from_hi > lo) & (from_hi < hi)
        c_new = jnp.where(inside, newton, jnp.where(hi_ok, from_hi, 0.5 * (lo + hi)))
        conv = (jnp.abs(c_new - c) <= 1e-14) | (hi - lo <= 1e-15)
        keep = conv_old
        return (jnp.where(keep, c, c_new), lo, hi, s_hi, ds_hi, keep | conv, it + 1)

    def cond(state):
        return jnp.any(~state[5]) & (state[6] < MAX_NEWTON)

    ones, zeros = jnp.ones_like(q), jnp.zeros_like(q)
    c0 = 0.5 * ones if start is None else start
    init = (jnp.where(done, 1.0, c0), zeros, ones, ones, zeros, done, 0)
    return jax.lax.while_loop(cond, step, init)[0]


def solve_c_star(phi, quad, sigma_w2, sigma_b2, rho, q_star, chi_1, F, refine=True):
    """(c*, χ_c) for arrays of N points (shape (N,)); ρ is one scalar for all of them.

    Args:
      sigma_b2: σ_b² (N,); q_star: q* (N,) (finite); chi_1: χ₁ (N,); F: E[φ²] at max(q*, Q_FLOOR).
      refine: solve the points the Mehler series cannot with the exact rule here. With
        ``refine=False`` (phase diagrams, which refine those few cells in small batches) the
        result is (c*, χ_c, unresolved), ``unresolved`` marking the points left to refine.

    Work is skipped where it is not needed: chunks whose points are all ordered (c* = 1) compute
    no Mehler coefficients, and only the dropout or the no-dropout solver runs (``lax.cond``).
    Smooth φ use the Mehler series where its error bound allows it, and elsewhere the
    exact nested 2-D rule, which is only run when some point needs it.
    """
    from sigprop.expectations import MEHLER_TOL, bivariate_direct, correlation_kernel, mehler_error_bound, moments

    q = jnp.maximum(q_star, Q_FLOOR)
    sigma_w2, sigma_b2 = jnp.broadcast_arrays(sigma_w2, sigma_b2)
    b_eff = effective_bias(sigma_w2, sigma_b2, rho, q_star, F)
    ordered = (rho == 1.0) & (chi_1 <= 1.0 + CRITICAL_TOL)  # c* = 1 up to criticality
    no_coeffs = jnp.zeros((0, q.shape[0]))
    rough_quad = quad.coarse()

    def direct_kernel(rule):
        return lambda c: bivariate_direct(phi, rule, q, q, c)

    def solve_direct(done):
        """c* by the exact 2-D rule: converge with the cheap rule, then polish with the full one."""

        def with_dropout(_):
            rough = _dropout_c_star(direct_kernel(rough_quad), no_coeffs, sigma_w2, b_eff, q, done)
            start = jnp.clip(rough - 1e-3, 0.0, 1.0)  # Newton climbs from the left
            return _dropout_c_star(direct_kernel(quad), no_coeffs, sigma_w2, b_eff, q, done, start=start)

        def without_dropout(_):
            rough = _chaotic_c_star_direct(phi, rough_quad, sigma_w2, q, done)
            return _chaotic_c_star_direct(phi, quad, sigma_w2, q, done, start=rough)

        return jax.lax.cond(rho < 1.0, with_dropout, without_dropout, None)

    def solve(_):
        if not phi.is_smooth:
            c = jnp.where(ordered, 1.0, solve_direct(ordered))
            chi_c = correlation_map_values(direct_kernel(quad), sigma_w2, b_eff, q, c)[1]
            return c, jnp.where(ordered, chi_1, chi_c), jnp.zeros_like(ordered)
        m = moments(phi, quad, q, coeffs=True)
        kernel = correlation_kernel(phi, quad, q, m.coeffs)
        none = jnp.zeros_like(ordered)
        c = jax.lax.cond(
            rho < 1.0,
            lambda _: _dropout_c_star(kernel, m.coeffs, sigma_w2, b_eff, q, none),
            lambda _: _chaotic_c_star_smooth(m.coeffs, sigma_w2, q, ordered, b_eff),
            None,
        )
        c = jnp.where(ordered, 1.0, c)
        chi_c = correlation_map_values(kernel, sigma_w2, b_eff, q, c)[1]
        bad = ~ordered & (mehler_error_bound(m, q, c) > MEHLER_TOL)

        def refine_cells(_):
            c_direct = jnp.where(bad, solve_direct(~bad), c)
            chi_direct = correlation_map_values(direct_kernel(quad), sigma_w2, b_eff, q, c_direct)[1]
            return c_direct, jnp.where(bad, chi_direct, chi_c)

        if not refine:
            return c, jnp.where(ordered, chi_1, chi_c), bad
        c, chi_c = jax.lax.cond(jnp.any(bad), refine_cells, lambda _: (c, chi_c), None)
        return c, jnp.where(ordered, chi_1, chi_c), bad & False

    def all_ordered(_):
        return jnp.ones_like(q), chi_1, jnp.zeros_like(ordered)

    out = jax.lax.cond(jnp.all(ordered), all_ordered, solve, None)
    return out if not refine else out[:2]
