"""The length and correlation maps evaluated on arrays, e.g. for plots and cobweb diagrams.

The maps themselves live in :mod:`sigprop.length_map` (V(q)) and :mod:`sigprop.correlation_map`
(C(c) at q*); this module only evaluates them for users.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from sigprop import correlation_tables as ct
from sigprop import quadrature as qd
from sigprop.correlation_map import Q_FLOOR, correlation_map_values, effective_bias
from sigprop.errors import InvalidParameterError, LengthMapDivergesError
from sigprop.expectations import correlation_kernel, moments
from sigprop.length_map import MARGINAL, OK, STATUS_TEXT, length_map_values, solve_q_star
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.point import validate


@functools.lru_cache(maxsize=32)
def _length(phi: Nonlinearity, quad: qd.Quadrature):
    return jax.jit(lambda q, w, b, rho: length_map_values(phi, quad, q, w, b, rho))


@functools.lru_cache(maxsize=32)
def _correlation(phi: Nonlinearity, quad: qd.Quadrature):
    def run(c, w, b, rho):
        q_star, status = solve_q_star(phi, quad, jnp.array([w]), jnp.array([b]), rho)
        q = jnp.maximum(jnp.where(jnp.isfinite(q_star), q_star, 1.0), Q_FLOOR)
        m = moments(phi, quad, q, coeffs=True)
        b_eff = effective_bias(w, b, rho, q_star, m.F)
        n = c.shape[0]
        qs = jnp.broadcast_to(q, (n,))
        kernel = correlation_kernel(phi, quad, qs, jnp.broadcast_to(m.coeffs, (m.coeffs.shape[0], n)))
        C, dC = correlation_map_values(kernel, w, b_eff, qs, c)
        return C, dC, q_star[0], status[0]

    return jax.jit(run)


@functools.lru_cache(maxsize=32)
def _q_star(phi: Nonlinearity, quad: qd.Quadrature):
    return jax.jit(lambda w, b, rho: solve_q_star(phi, quad, jnp.array([w]), jnp.array([b]), rho))


@functools.lru_cache(maxsize=32)
def _correlation_table(phi: Nonlinearity, quad: qd.Quadrature):
    """As :func:`_correlation` with K = F(q*) − q*(1 − c) r(q*, θ), Kc = D(q*, θ) from the panels of
    :mod:`sigprop.correlation_tables` (exact rule if q*'s panel is invalid). q* is an argument."""

    def run(c, w, b, rho, q_star, panels):
        q = jnp.maximum(jnp.where(jnp.isfinite(q_star), q_star, 1.0), Q_FLOOR)
        m = moments(phi, quad, q, coeffs=True)
        b_eff = effective_bias(w, b, rho, q_star, m.F)
        n = c.shape[0]
        qs = jnp.broadcast_to(q, (n,))

        def table(_):
            r, d = ct.panel_values(panels, q[0], c)
            return m.F[0] - q[0] * (1.0 - c) * r, d

        def exact(_):
            return correlation_kernel(phi, quad, qs, jnp.broadcast_to(m.coeffs, (m.coeffs.shape[0], n)))(c)

        K, Kc = jax.lax.cond(ct.panel_ok(panels, q[0]), table, exact, None)
        return correlation_map_values(lambda _: (K, Kc), w, b_eff, qs, c)

    return jax.jit(run)


def length_map(phi, q, sigma_w2: float, sigma_b2: float, dropout: float = 1.0, *, quadrature=qd.DEFAULT):
    """V(q) = σ_w²/ρ E[φ(√q z)²] + σ_b² for an array of q ≥ 0 (Poole et al. 2016, eq. 3)."""
    phi = nonlinearity(phi)
    sw2, sb2, rho = validate(sigma_w2, sigma_b2, dropout)
    q = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if np.any(q < 0) or not np.all(np.isfinite(q)):
        raise InvalidParameterError("q must be finite and non-negative")
    return np.asarray(_length(phi, quadrature)(jnp.asarray(q.ravel()), sw2, sb2, rho)).reshape(q.shape)


def correlation_map(
    phi, c, sigma_w2: float, sigma_b2: float, dropout: float = 1.0, *, quadrature=qd.DEFAULT, method: str = "exact"
):
    """C(c) at q* and its slope C'(c), for an array of c ∈ [−1, 1] (Poole et al. 2016, eq. 5).

    ``method="table"`` (kinked φ only; smooth φ ignore it): C(c) = (σ_w²(F(q*) − q*(1 − c) r) + σ_b²)/q*
    and C'(c) = σ_w² D with r, D from the cached Chebyshev panels of
    :mod:`sigprop.correlation_tables` (see :func:`sigprop.kernels.circle_kernels`); q* and F exact.
    Measured against the default ``"exact"`` (tests/test_kernels_tables.py): equal to
    ≤ 1e-7 (measured ≤ ~1e-9).

    Returns:
      (C, dC) arrays shaped like ``c``.

    Raises:
      LengthMapDivergesError: q* is not finite, so the map at q* is undefined.
    """
    phi = nonlinearity(phi)
    sw2, sb2, rho = validate(sigma_w2, sigma_b2, dropout)
    c = np.atleast_1d(np.asarray(c, dtype=np.float64))
    if np.any(np.abs(c) > 1) or not np.all(np.isfinite(c)):
        raise InvalidParameterError("c must lie in [−1, 1]")
    if method not in ("exact", "table"):
        raise InvalidParameterError(f"method must be 'exact' or 'table', got {method!r}")
    if method == "table" and not phi.is_smooth:
        q_star, status = _q_star(phi, quadrature)(sw2, sb2, rho)
        q_star, status = np.asarray(q_star), int(status[0])
        if status in (OK, MARGINAL):
            panels = ct.panels(phi, quadrature, np.maximum(q_star, Q_FLOOR))
            C, dC = _correlation_table(phi, quadrature)(jnp.asarray(c.ravel()), sw2, sb2, rho, q_star, panels)
    else:
        C, dC, _, status = _correlation(phi, quadrature)(jnp.asarray(c.ravel()), sw2, sb2, rho)
    if int(status) not in (OK, MARGINAL):
        raise LengthMapDivergesError(f"{STATUS_TEXT[int(status)]}: the correlation map at q* is undefined")
    return np.asarray(C).reshape(c.shape), np.asarray(dC).reshape(c.shape)
