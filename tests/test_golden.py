"""sigprop against the independent golden table (adaptive scipy/mpmath quadrature, brentq).

tests/reference/make_golden.py builds the table without importing sigprop; each record carries
its own estimated error (ref_err ≤ 2e-11). Targets (issues 2 and 12): q*, c*, χ₁, χ_c within 1e-9
relative, ξ within 1e-7 relative, for smooth and kinked φ, at every q* of the table.
"""

import json
import math
from pathlib import Path

import jax.numpy as jnp
import pytest

import sigprop as sp
from sigprop import expectations as ex
from sigprop import quadrature as qd

GOLDEN = json.loads((Path(__file__).parent / "reference" / "golden.json").read_text())
ALPHA = GOLDEN["meta"]["conventions"]["leaky_relu_alpha"]


def phi_of(name: str) -> sp.Nonlinearity:
    return sp.nonlinearity(name, alpha=ALPHA) if name == "leaky_relu" else sp.nonlinearity(name)


def rel(a: float, b: float, floor: float = 1e-300) -> float:
    if math.isinf(b):
        return 0.0 if math.isinf(a) else math.inf
    return abs(a - b) / max(abs(b), floor)


def _id(r):
    return f"{r['phi']}-w{r['sigma_w2']}-b{r['sigma_b2']}-rho{r['rho']}"


@pytest.mark.parametrize("ref", GOLDEN["points"], ids=_id)
def test_point_matches_reference(ref):
    """q*, c*, χ₁, χ_c, V'(q*) to 1e-9 and ξ_q, ξ_c to 1e-7 (relative; c* ≈ 0 absolutely), at every
    q* of the table (the scale-following rules have no accurate range to leave), with no note."""
    r = sp.point(phi_of(ref["phi"]), ref["sigma_w2"], ref["sigma_b2"], ref["rho"])
    for key in ("q_star", "chi_1", "chi_c", "slope_q"):
        assert rel(getattr(r, key), ref[key]) <= 1e-9, (key, getattr(r, key), ref[key])
    assert abs(r.c_star - ref["c_star"]) <= 1e-9 * max(abs(ref["c_star"]), 1e-3)
    for key in ("xi_q", "xi_c"):
        assert rel(getattr(r, key), ref[key]) <= 1e-7, (key, getattr(r, key), ref[key])
    assert r.phase == ref["phase"]


@pytest.mark.parametrize("ref", GOLDEN["bivariate"], ids=lambda r: f"{r['phi']}-{r['qa']}-{r['qb']}-{r['c']}")
def test_bivariate_expectations(ref):
    """K = E[φ(u₁)φ(u₂)] and Kc = E[φ'(u₁)φ'(u₂)], also for q_a ≠ q_b and c < 0."""
    K, Kc = ex.bivariate(phi_of(ref["phi"]), qd.DEFAULT, *(jnp.array([ref[k]]) for k in ("qa", "qb", "c")))
    assert abs(float(K[0]) - ref["K"]) <= 1e-9 * max(abs(ref["K"]), ref["ref_err_scale"]["K"])
    assert abs(float(Kc[0]) - ref["Kc"]) <= 1e-9 * max(abs(ref["Kc"]), ref["ref_err_scale"]["Kc"])


@pytest.mark.parametrize("ref", GOLDEN["critical_line"], ids=lambda r: f"{r['phi']}-{r['sigma_b2']}")
def test_critical_line(ref):
    """The critical σ_w² and its q* at given σ_b² (χ₁ = 1)."""
    c = sp.critical_point(ref["phi"], ref["sigma_b2"])
    assert rel(c.sigma_w2, ref["sigma_w2"]) <= 1e-9
    assert rel(c.q_star, ref["q_star"]) <= 1e-9


def test_published_tanh_critical_point():
    """Schoenholz et al. 2017: the tanh critical line passes σ_w² ≈ 1.7610 at σ_b² = 0.05."""
    assert round(sp.critical_point("tanh", 0.05).sigma_w2, 4) == 1.7610


# Issue 12's reproducers at large q* (1-D quantities), against 30-digit mpmath integrals cut at
# the scales of φ (tests/reference/integrals.py, no sigprop code): q* by Newton on V(q) − q,
# critical points by the secant on q = F/G + σ_b². sigprop's value is only the starting guess.
LARGE_Q_POINTS = [
    ("tanh", 3.3965, 2.8254, 1.0),  # χ₁ 0.77562669 (was 0.77562576)
    ("tanh", 2.0, 100.0, 1.0),  # χ₁ was 46 % off
    ("tanh", 1.0, 1e6, 1.0),  # χ₁ 5.3e-4 (was 0)
    ("erf", 1.0, 1e6, 1.0),  # χ₁ 6.4e-4 (was 0)
    ("softplus", 1.99, 3.0, 1.0),  # q* ≈ 615 (was 3e-3 off)
    ("tanh", 1.0, 0.1, 0.01),  # q* ≈ 92 (χ₁ was 41 % off)
    ("tanh", 1.3164, 2.8466, 0.95),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", LARGE_Q_POINTS, ids=lambda c: f"{c[0]}-w{c[1]}-b{c[2]}-rho{c[3]}")
def test_large_q_star_chi_1_matches_mpmath(case):
    """q*, χ₁ and V'(q*) to 1e-11 at q* from 4 to 1e6, where plain Gauss–Hermite was off by up to 100 %."""
    from tests.reference import integrals as I

    name, sw2, sb2, rho = case
    r = sp.point(name, sw2, sb2, rho)
    q_ref, _ = I.q_star_mp(name, sw2, sb2, rho, q_guess=r.q_star)
    assert rel(r.q_star, float(q_ref)) <= 1e-11
    assert rel(r.chi_1, float(sw2 * I.G_mp(name, q_ref))) <= 1e-11
    assert rel(r.slope_q, float(sw2 / rho * I.dF_mp(name, q_ref))) <= 1e-11


LARGE_Q_CRITICAL = [("tanh", 2.0, 4.266396106), ("tanh", 100.0, 20.539), ("erf", 100.0, None), ("gelu", 1.0, None)]


@pytest.mark.slow
@pytest.mark.parametrize("case", LARGE_Q_CRITICAL, ids=lambda c: f"{c[0]}-{c[1]}")
def test_critical_point_at_large_bias_matches_mpmath(case):
    """The critical line at σ_b² up to 100 (q* up to 119; tanh at 100 used to raise
    NoCriticalPointError, GELU at 1 gave q* 53.6 instead of 82.3)."""
    from tests.reference import integrals as I

    name, sb2, quoted = case
    c = sp.critical_point(name, sb2)
    sw2_ref, q_ref, _ = I.critical_q_mp(name, sb2, c.q_star)
    assert rel(c.q_star, float(q_ref)) <= 1e-10
    assert rel(c.sigma_w2, float(sw2_ref)) <= 1e-10
    if quoted is not None:
        assert abs(c.sigma_w2 - quoted) <= 1e-3
