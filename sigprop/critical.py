"""The critical line χ₁ = 1, and its replacement under dropout (the σ_w² that maximises ξ_c).

Parametrised by q* (Poole et al. 2016; Schoenholz et al. 2017, §3): on the critical line
χ₁ = σ_w² E[φ'(√q* z)²] = 1 and q* = σ_w² E[φ(√q* z)²] + σ_b², so

    σ_w²(q*) = 1 / G(q*),      σ_b²(q*) = q* − F(q*) / G(q*).

For a given σ_b² we solve σ_b²(q*) = σ_b² for q* (first sign change on a log-spaced q grid, then
Brent's method), so the line is computed directly, never by thresholding a grid.

With dropout (ρ < 1) χ_c < 1 everywhere and there is no transition (Schoenholz et al. 2017, §5);
we report the σ_w² at which ξ_c is largest and that largest ξ_c.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import brentq, minimize_scalar

from sigprop import quadrature as qd
from sigprop.errors import InvalidParameterError, LengthMapDivergesError, NoCriticalPointError
from sigprop.expectations import moments
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.phase_diagram import phase_diagram
from sigprop.point import point, validate
from sigprop.validation import real_array

_Q_SCAN = np.concatenate([[0.0], np.logspace(-10, 8, 721)])
"""q* values scanned for the first crossing σ_b²(q*) = σ_b² (40 per decade)."""


@functools.lru_cache(maxsize=32)
def _line_fn(phi: Nonlinearity, quad: qd.Quadrature):
    def line(q):
        m = moments(phi, quad, q)
        return 1.0 / m.G, q - m.F / m.G

    return jax.jit(line)


def critical_line(phi: str | Nonlinearity, q_star, *, quadrature: qd.Quadrature = qd.DEFAULT):
    """Points (σ_w², σ_b²) of the critical line χ₁ = 1 at the given q* values (no dropout).

    Args:
      phi: nonlinearity.
      q_star: array of q* ≥ 0.

    Returns:
      (sigma_w2, sigma_b2) arrays; entries with σ_b² < 0 are not physical (drop them).

    >>> w, b = critical_line("erf", [0.0])
    >>> float(w[0]) == math.pi / 4   # 1/φ'(0)² for erf
    True
    """
    phi = nonlinearity(phi)
    q = np.atleast_1d(real_array(q_star, "q*"))
    if np.any(q < 0) or not np.all(np.isfinite(q)):
        raise InvalidParameterError("q* must be finite and non-negative")
    w, b = _line_fn(phi, quadrature)(jnp.asarray(q))
    b = np.where(q == 0.0, 0.0, np.asarray(b)) if float(phi(jnp.zeros(1))[0]) == 0.0 else np.asarray(b)
    return np.asarray(w), b


@dataclass(frozen=True)
class CriticalPoint:
    """The critical σ_w² for one σ_b² (or, with dropout, the ξ_c-maximising σ_w²).

    ``xi_c`` is ``inf`` on the true critical line (ρ = 1) and the maximal, finite ξ_c with dropout.
    ``stable`` says whether q* is the fixed point a network reaches from q⁰ = 1 (V'(q*) ≤ 1 and
    :func:`sigprop.point` finds it there); if not, ``note`` says what the network does instead
    (GELU and SiLU at small σ_b²: their critical q* is unstable).
    """

    phi: str
    sigma_b2: float
    dropout: float
    sigma_w2: float
    q_star: float
    chi_1: float
    xi_c: float
    criterion: str
    stable: bool = True
    note: str = ""

    def to_dict(self) -> dict:
        """Plain dict; infinities become ``None`` (valid JSON)."""
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


def _critical_q(phi: Nonlinearity, quad: qd.Quadrature, sigma_b2: float) -> float:
    line = _line_fn(phi, quad)
    _, b_scan = line(jnp.asarray(_Q_SCAN))
    h = np.asarray(b_scan) - sigma_b2
    if float(phi(jnp.zeros(1))[0]) == 0.0:
        h[0] = -sigma_b2  # σ_b²(q* → 0) = 0 exactly when φ(0) = 0
        if sigma_b2 == 0.0:
            return 0.0
    crossing = np.flatnonzero((h[:-1] < 0) & (h[1:] >= 0) & np.isfinite(h[1:]))
    if crossing.size == 0:
        raise NoCriticalPointError(
            f"no σ_w² with χ₁ = 1 and finite q* for φ = {phi.name} at σ_b² = {sigma_b2:g}"
            + (" (at χ₁ = 1 the length map diverges)" if phi.growth > 0 else "")
        )
    i = int(crossing[0])

    def f(q: float) -> float:
        return float(line(jnp.array([q]))[1][0]) - sigma_b2

    return brentq(f, _Q_SCAN[i], _Q_SCAN[i + 1], xtol=1e-300, rtol=1e-15, maxiter=200)


def critical_stability(phi: Nonlinearity, quad: qd.Quadrature, sw2: float, sb2: float, q: float) -> tuple[bool, str]:
    """(stable, note) for the critical q* at (σ_w², σ_b²): is it the q* a network reaches from q⁰ = 1?

    It must be a stable fixed point, V'(q*) = σ_w² dF/dq ≤ 1, and the one :func:`sigprop.point`
    finds from q⁰ (V increasing: q⁰ = 1 may sit on the far side of an unstable q*).
    """
    slope = sw2 * float(moments(phi, quad, jnp.array([max(q, 1e-300)])).dF[0])
    where = f"the critical q* = {q:.6g} at σ_w² = {sw2:.10g}"
    try:
        r = point(phi, sw2, sb2, quadrature=quad)
    except LengthMapDivergesError:
        r = None
    if slope > 1.0 + 1e-9:
        got = "the length map diverges" if r is None else f"it settles at q* = {r.q_star:.6g} (χ₁ = {r.chi_1:.6g})"
        return False, f"{where} is an unstable fixed point of V (V'(q*) = {slope:.6g} > 1): from q⁰ = 1 {got}"
    if r is None:
        return False, f"{where} is not reached from q⁰ = 1: the length map diverges"
    if abs(r.q_star - q) > 1e-6 * max(q, 1e-12):
        got = f"the network settles at q* = {r.q_star:.6g} (χ₁ = {r.chi_1:.6g})"
        return False, f"{where} is not reached from q⁰ = 1: {got}"
    return True, ""


def _max_xi_c(phi: Nonlinearity, quad: qd.Quadrature, sigma_b2: float, rho: float):
    upper = 8.0 if phi.growth == 0 else min(8.0, rho / phi.growth * (1 - 1e-9))
    grid = np.linspace(upper / 400, upper, 400)
    diagram = phase_diagram(phi, grid, [sigma_b2], rho)
    chi_c = np.where(np.isfinite(diagram.chi_c[0]), diagram.chi_c[0], -np.inf)
    j = int(np.argmax(chi_c))
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]

    def neg_chi_c(w: float) -> float:
        return -point(phi, w, sigma_b2, rho, quadrature=quad).chi_c

    best = minimize_scalar(neg_chi_c, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    return float(best.x)


def critical_point(
    phi: str | Nonlinearity,
    sigma_b2: float,
    dropout: float = 1.0,
    *,
    quadrature: qd.Quadrature = qd.DEFAULT,
) -> CriticalPoint:
    """The σ_w² on the critical line χ₁ = 1 at this σ_b², with its q*.

    With dropout (ρ < 1) there is no χ₁ = 1 transition of c*; the σ_w² that maximises ξ_c is
    returned instead, with that ξ_c.

    Raises:
      NoCriticalPointError: no critical σ_w² with finite q* (e.g. ReLU at σ_b² > 0).

    >>> round(critical_point("tanh", 0.05).sigma_w2, 4)   # Schoenholz et al. 2017
    1.761
    """
    phi = nonlinearity(phi)
    _, sb2, rho = validate(1.0, sigma_b2, dropout)
    if rho == 1.0:
        q = _critical_q(phi, quadrature, sb2)
        sw2 = float(_line_fn(phi, quadrature)(jnp.array([max(q, 1e-100)]))[0][0])
        stable, note = critical_stability(phi, quadrature, sw2, sb2, q)
        return CriticalPoint(phi.name, sb2, rho, sw2, q, 1.0, math.inf, "chi_1 = 1", stable, note)
    sw2 = _max_xi_c(phi, quadrature, sb2, rho)
    r = point(phi, sw2, sb2, rho, quadrature=quadrature)
    return CriticalPoint(phi.name, sb2, rho, sw2, r.q_star, r.chi_1, r.xi_c, "max xi_c (dropout)")
