"""Layer-by-layer evolution of the length q^l and correlation c^l of two inputs.

Poole et al. 2016, eqs. 3–5, with dropout as in Schoenholz et al. 2017 (§5):

    q_a^{l+1} = σ_w²/ρ E[φ(√q_a^l z)²] + σ_b²            (and the same for b),
    q_ab^{l+1} = σ_w² E[φ(u_a)φ(u_b)] + σ_b²,  c^{l+1} = q_ab^{l+1}/√(q_a^{l+1} q_b^{l+1}),

with (u_a, u_b) Gaussian of variances q_a^l, q_b^l and correlation c^l. These are the curves the
dashboard draws beside finite-width simulations. Depth is a ``lax.scan``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from sigprop import quadrature as qd
from sigprop.expectations import Q_TINY, bivariate_polar, mehler, moments
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.point import check_int, validate
from sigprop.validation import finite_real, quadrature_rule

MAX_DEPTH = 100_000


@dataclass(frozen=True)
class Trajectory:
    """q_a^l, q_b^l and c^l for l = 0 … depth (arrays of length depth + 1)."""

    q_a: np.ndarray
    q_b: np.ndarray
    c: np.ndarray

    @property
    def q(self) -> np.ndarray:
        """q_a^l (both inputs share it when q_a⁰ = q_b⁰)."""
        return self.q_a


def layer_step(phi: Nonlinearity, quad: qd.Quadrature, sigma_w2, sigma_b2, rho, qa, qb, c):
    """One layer of the maps for arrays (N,): returns (q_a', q_b', c')."""
    ma = moments(phi, quad, qa, coeffs=True)  # one pass per variance: E[φ²] and, for smooth φ,
    mb = moments(phi, quad, qb, coeffs=True)  # the Mehler coefficients the correlation needs
    if phi.is_smooth:
        K, _ = mehler(ma.coeffs, mb.coeffs, qa, qb, c)
    else:
        K, _ = bivariate_polar(phi, quad, qa, qb, c)
    qa_new = sigma_w2 / rho * ma.F + sigma_b2
    qb_new = sigma_w2 / rho * mb.F + sigma_b2
    denom = jnp.sqrt(jnp.maximum(qa_new, Q_TINY) * jnp.maximum(qb_new, Q_TINY))
    c_new = jnp.clip((sigma_w2 * K + sigma_b2) / denom, -1.0, 1.0)
    return qa_new, qb_new, c_new


@functools.lru_cache(maxsize=32)
def _compiled(phi: Nonlinearity, quad: qd.Quadrature, depth: int):
    def run(sigma_w2, sigma_b2, rho, qa0, qb0, c0):
        def body(carry, _):
            new = layer_step(phi, quad, sigma_w2, sigma_b2, rho, *carry)
            return new, new

        init = (qa0, qb0, c0)
        _, (qa, qb, c) = jax.lax.scan(body, init, None, length=depth)
        return tuple(jnp.concatenate([x0[None], xs]) for x0, xs in zip(init, (qa, qb, c), strict=True))

    return jax.jit(run)


def trajectories(
    phi: str | Nonlinearity,
    sigma_w2: float,
    sigma_b2: float,
    depth: int,
    q0: float = 1.0,
    c0: float = 0.5,
    dropout: float = 1.0,
    *,
    q0_b: float | None = None,
    quadrature: qd.Quadrature = qd.DEFAULT,
) -> Trajectory:
    """q^l and c^l over ``depth`` layers from (q⁰, c⁰) (and optionally a different q_b⁰).

    >>> t = trajectories("relu", 2.0, 0.0, depth=3, q0=1.0, c0=0.0)
    >>> [round(float(x), 12) for x in t.q]          # He initialisation preserves q
    [1.0, 1.0, 1.0, 1.0]
    """
    phi = nonlinearity(phi)
    sw2, sb2, rho = validate(sigma_w2, sigma_b2, dropout)
    depth = check_int(depth, "depth", 0, MAX_DEPTH)
    q0 = finite_real(q0, "q⁰", 0.0)
    qb0 = q0 if q0_b is None else finite_real(q0_b, "q_b⁰", 0.0)
    c0 = finite_real(c0, "c⁰", -1.0, 1.0)
    quadrature = quadrature_rule(quadrature)
    one = functools.partial(jnp.full, (1,), dtype=jnp.float64)
    qa, qb, c = _compiled(phi, quadrature, int(depth))(sw2, sb2, rho, one(q0), one(qb0), one(c0))
    return Trajectory(np.asarray(qa[:, 0]), np.asarray(qb[:, 0]), np.asarray(c[:, 0]))
