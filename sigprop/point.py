"""Everything at one hyperparameter point: q*, c*, χ₁, χ_c, ξ_q, ξ_c and the phase.

χ₁ = σ_w² E[φ'(√q* z)²] (Poole et al. 2016, eq. 7; Schoenholz et al. 2017, eq. 6) decides the
phase: ordered (χ₁ < 1), critical (χ₁ = 1) or chaotic (χ₁ > 1). :func:`point_kernel` is the one
pure function behind the ``point`` API, the phase diagrams and the critical-line searches.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np

from sigprop import quadrature as qd
from sigprop.correlation_map import Q_FLOOR, solve_c_star
from sigprop.errors import InvalidParameterError, LengthMapDivergesError, SigpropError
from sigprop.expectations import moments
from sigprop.length_map import (
    CRITICAL_TOL,
    DIVERGES,
    MARGINAL,
    NONFINITE,
    OK,
    STATUS_TEXT,
    UNRESOLVED,
    depth_scale,
    solve_q_star,
)
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.validation import quadrature_rule, real

ORDERED, CRITICAL, CHAOTIC = 0, 1, 2
MAX_VARIANCE = 1e8
"""Largest σ_w², σ_b² accepted: beyond it q* overflows what the quadrature resolves."""
REFINED = qd.Quadrature(hermite_degree=400, panel_nodes=24, angular_nodes=48)
"""A finer rule used to check custom expressions, whose smoothness we cannot know."""
PHASES = ("ordered", "critical", "chaotic")


def point_kernel(phi: Nonlinearity, quad: qd.Quadrature, sigma_w2, sigma_b2, rho, q0=1.0) -> dict:
    """All mean-field quantities for arrays of N points (shape (N,); pure, jit it).

    Returns a dict of arrays: q_star, c_star, chi_1, chi_c, slope_q, xi_q, xi_c, phase (code),
    status (see :data:`sigprop.length_map.STATUS_TEXT`). Where the length map diverges or no
    stable q* is found, every field but q_star (=inf) and status is NaN.
    """
    sigma_w2, sigma_b2 = jnp.broadcast_arrays(jnp.atleast_1d(sigma_w2), jnp.atleast_1d(sigma_b2))
    q_star, status = solve_q_star(phi, quad, sigma_w2, sigma_b2, rho, q0)
    q_finite = jnp.where(jnp.isfinite(q_star), q_star, 1.0)  # dummy where q* = inf (masked below)
    q = jnp.maximum(q_finite, Q_FLOOR)
    m = moments(phi, quad, q)  # the 1-D quadrature pass at q*
    slope_q = jnp.where(status == MARGINAL, 1.0, sigma_w2 / rho * m.dF)
    status = jnp.where((status == OK) & (slope_q > 1.0 + 1e-9), UNRESOLVED, status)
    chi_1 = sigma_w2 * m.G
    c_star, chi_c = solve_c_star(phi, quad, sigma_w2, sigma_b2, rho, q_finite, chi_1, m.F)
    return finish_point(q_star, status, chi_1, slope_q, c_star, chi_c)


def finish_point(q_star, status, chi_1, slope_q, c_star, chi_c) -> dict:
    """Depth scales ξ = −1/log χ, the phase, and the masks: q* = inf and NaN elsewhere where q* is bad.

    Shared by :func:`point_kernel` and the tabulated kinked-φ grid path of the phase diagram.
    """
    phase = jnp.where(jnp.abs(chi_1 - 1.0) <= CRITICAL_TOL, CRITICAL, jnp.where(chi_1 < 1.0, ORDERED, CHAOTIC))
    finite = jnp.isfinite(chi_1) & jnp.isfinite(slope_q) & jnp.isfinite(c_star) & jnp.isfinite(chi_c)
    status = jnp.where((status == OK) & ~finite, NONFINITE, status)
    bad = (status == DIVERGES) | (status == UNRESOLVED) | (status == NONFINITE)
    out = {
        "q_star": jnp.where(bad, jnp.inf, q_star),
        "c_star": c_star,
        "chi_1": chi_1,
        "chi_c": chi_c,
        "slope_q": slope_q,
        "xi_q": depth_scale(slope_q),
        "xi_c": depth_scale(chi_c),
    }
    out = {k: (v if k == "q_star" else jnp.where(bad, jnp.nan, v)) for k, v in out.items()}
    out["phase"] = jnp.where(bad, -1, phase)
    out["status"] = status
    return out


def accurate_q_limit(phi: Nonlinearity, quad: qd.Quadrature) -> float:
    """Largest q* at which the rule keeps ~1e-9 relative accuracy for sharp smooth φ (tanh).

    Gauss–Hermite nodes near 0 are spaced ~π/√(2n) in z, i.e. π√(q/2n) in x, so the usable q
    grows like n; measured for tanh with 256 nodes: 2e-12 at q = 2, 1e-8 at q = 5 (README).
    Kinked φ use split panels whose edges follow √q, which do not degrade this way.
    """
    return math.inf if not phi.is_smooth else 4.0 * quad.hermite_degree / 256


def _convergence_note(phi: Nonlinearity, sw2: float, sb2: float, rho: float, out: dict) -> str:
    """For custom φ (smoothness unknown): compare with :data:`REFINED`; warn if they disagree."""
    fine = _compiled_point(phi, REFINED)(jnp.array([sw2]), jnp.array([sb2]), rho)
    worst = 0.0
    for key in ("q_star", "chi_1", "chi_c"):
        a, b = out[key], float(fine[key][0])
        worst = max(worst, abs(a - b) / max(abs(b), 1e-12)) if math.isfinite(b) else math.inf
    if worst <= 1e-8:
        return ""
    return (
        f"quadrature not converged: q*, χ₁, χ_c change by {worst:.1e} (relative) under a finer rule; "
        "φ may be singular (e.g. φ' not square-integrable)"
    )


JUMP_STEP = 1e-9
"""Half-width of the look either side of a kink of a custom φ for a jump (see :func:`check_no_jumps`)."""


@functools.lru_cache(maxsize=64)
def check_no_jumps(phi: Nonlinearity) -> None:
    """Refuse a φ that jumps at a kink (``sign(x)``, ``heaviside(x)``): its φ' has a delta there, so
    χ₁ = σ_w² E[φ'²] is infinite, while JAX's φ' (0 on both sides) would silently give χ₁ = 0."""
    for k in phi.kinks:
        left, right = (float(phi.fn(jnp.array([k + s * JUMP_STEP * max(1.0, abs(k))]))[0]) for s in (-1, 1))
        if abs(right - left) > 1e-6 * max(1.0, abs(left), abs(right)):
            raise SigpropError(
                f"φ = {phi.name} jumps at x = {k!r} (from {left:.6g} to {right:.6g}): φ' has a delta there, "
                "so E[φ'²] and χ₁ are infinite; sigprop needs a continuous φ"
            )


@functools.lru_cache(maxsize=64)
def _escape_fn(phi: Nonlinearity, quad: qd.Quadrature):
    return jax.jit(lambda q, a, b: a * moments(phi, quad, q).F + b - q)


def _local_note(phi: Nonlinearity, sw2: float, sb2: float, rho: float, q_star: float, quad: qd.Quadrature) -> str:
    """Where V(q)/q → s = σ_w²/ρ·growth ≥ 1 (GELU, SiLU, softplus, ELU above σ_w² = 2ρ), the q*
    reached from q⁰ is only locally attracting: above the first q > q* with V(q) > q (an unstable
    fixed point) q^l grows without bound. Returns a note giving that threshold, or ''."""
    s = sw2 / rho * phi.growth
    if phi.homogeneous or not (math.isfinite(s) and s >= 1.0 - 1e-12) or not math.isfinite(q_star):
        return ""
    q = np.geomspace(max(q_star, 1e-12) * 1.001, 1e12 * max(1.0, q_star), 600)
    h = np.asarray(_escape_fn(phi, quad)(jnp.asarray(q), sw2 / rho, sb2))
    up = np.flatnonzero(h > 4 * np.finfo(float).eps * q)
    if up.size == 0:
        return ""
    return (
        f"q* is only locally attracting: V(q) > q from q ≈ {q[up[0]]:.3g} on (V(q)/q → σ_w²/ρ·growth = {s:.6g}), "
        "so from a q⁰ beyond that the length map diverges"
    )


@functools.lru_cache(maxsize=64)
def _compiled_point(phi: Nonlinearity, quad: qd.Quadrature):
    return jax.jit(functools.partial(point_kernel, phi, quad))


def validate(sigma_w2: float, sigma_b2: float, dropout: float) -> tuple[float, float, float]:
    """Check σ_w² > 0, σ_b² ≥ 0 and ρ ∈ (0, 1]; return them as floats."""
    sw2, sb2, rho = real(sigma_w2, "σ_w²"), real(sigma_b2, "σ_b²"), real(dropout, "the dropout keep-probability ρ")
    if not (math.isfinite(sw2) and sw2 > 0.0):
        raise InvalidParameterError(f"σ_w² must be a positive finite number, got {sigma_w2}")
    if not (math.isfinite(sb2) and sb2 >= 0.0):
        raise InvalidParameterError(f"σ_b² must be a non-negative finite number, got {sigma_b2}")
    if sw2 > MAX_VARIANCE or sb2 > MAX_VARIANCE:
        raise InvalidParameterError(f"σ_w² and σ_b² must be at most {MAX_VARIANCE:g}, got {sw2:g} and {sb2:g}")
    if not (math.isfinite(rho) and 0.0 < rho <= 1.0):
        raise InvalidParameterError(f"dropout keep-probability ρ must be in (0, 1], got {dropout}")
    return sw2, sb2, rho


def check_int(value, name: str, lo: int, hi: int | None = None) -> int:
    """``value`` as an int in [lo, hi] (hi = None: no upper bound); bools and floats are refused."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < lo or (hi is not None and value > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f"≥ {lo}"
        raise InvalidParameterError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class PointResult:
    """Mean-field quantities at one (φ, σ_w², σ_b², ρ). Depth scales may be ``math.inf``."""

    phi: str
    sigma_w2: float
    sigma_b2: float
    dropout: float
    q_star: float
    c_star: float
    chi_1: float
    chi_c: float
    slope_q: float
    xi_q: float
    xi_c: float
    phase: str
    note: str = ""

    def to_dict(self) -> dict:
        """Plain dict; infinities become ``None`` so that it serialises as valid JSON."""
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


def point(
    phi: str | Nonlinearity,
    sigma_w2: float,
    sigma_b2: float,
    dropout: float = 1.0,
    *,
    quadrature: qd.Quadrature = qd.DEFAULT,
) -> PointResult:
    """Fixed points, susceptibilities, depth scales and phase at one hyperparameter point.

    Args:
      phi: registry name, custom expression in ``x``, or :class:`Nonlinearity`.
      sigma_w2: weight variance σ_w² > 0 (W ~ N(0, σ_w²/N)).
      sigma_b2: bias variance σ_b² ≥ 0.
      dropout: keep-probability ρ ∈ (0, 1] (1 = no dropout).
      quadrature: quadrature degrees (see :class:`sigprop.quadrature.Quadrature`).

    Raises:
      InvalidParameterError: a hyperparameter is out of its domain.
      LengthMapDivergesError: there is no finite q* (e.g. ReLU with σ_w² > 2).

    >>> r = point("relu", 1.0, 0.5)
    >>> round(r.q_star, 12), round(r.chi_1, 12), r.phase
    (1.0, 0.5, 'ordered')
    """
    phi = nonlinearity(phi)
    sw2, sb2, rho = validate(sigma_w2, sigma_b2, dropout)
    quadrature = quadrature_rule(quadrature)
    where = f"for φ = {phi.name} at σ_w² = {sw2!r}, σ_b² = {sb2!r}, ρ = {rho!r}"  # every digit that matters
    check_no_jumps(phi)
    arr = _compiled_point(phi, quadrature)(jnp.array([sw2]), jnp.array([sb2]), rho)
    out = {k: float(v[0]) for k, v in arr.items()}
    status = int(out.pop("status"))
    if status == NONFINITE:
        raise SigpropError(f"{STATUS_TEXT[status]} {where}")
    if status in (DIVERGES, UNRESOLVED):
        growth = sw2 / rho * phi.growth
        raise LengthMapDivergesError(
            f"{STATUS_TEXT[status]} {where}" + (f" (V(q)/q → σ_w²/ρ·{phi.growth:g} ≥ 1)" if growth >= 1 else "")
        )
    phase = PHASES[int(out.pop("phase"))]
    notes = [STATUS_TEXT[status] if status != OK else ""]
    if phi.key == ("custom",) and quadrature == qd.DEFAULT:
        notes.append(_convergence_note(phi, sw2, sb2, rho, out))
    notes.append(_local_note(phi, sw2, sb2, rho, out["q_star"], quadrature))
    note = "; ".join(n for n in notes if n)  # every note is seen, none overwrites another
    return PointResult(phi.name, sw2, sb2, rho, phase=phase, note=note, **out)
