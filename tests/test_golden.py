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
