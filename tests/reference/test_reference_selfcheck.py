"""Self-checks of the independent reference (tests/reference), not of sigprop.

The reference integrators are checked against closed forms (arcsine kernel for
erf, arc-cosine kernel for relu, sin, leaky_relu, linear, hard_tanh), and every
record of golden.json is checked against its defining equations with cheap
double-precision quadratures: V(q*) = q*, C(c*) = c*, chi_1 = sigma_w2 G(q*),
chi_c = sigma_w2 Kc(q*, q*, c*), slope_q, xi_q, xi_c, and chi_1 = 1 on the
critical line.  Nothing here imports sigprop.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import mpmath
import pytest

from . import integrals as I
from .nonlinearities import NONLINEARITIES

GOLDEN_PATH = Path(__file__).resolve().parent / "golden.json"
GOLDEN = json.loads(GOLDEN_PATH.read_text()) if GOLDEN_PATH.exists() else None
needs_golden = pytest.mark.skipif(GOLDEN is None, reason="run make_golden.py first")

TOL = 1e-12


def rel(a, b, scale=None):
    den = abs(b) if scale is None else max(abs(b), abs(scale))
    return abs(a - b) / den if den else abs(a - b)


# ------------------------------------------------------------------ closed forms
def erf_K(q, c):
    return 2 / math.pi * math.asin(2 * q * c / (1 + 2 * q))


def erf_Kc(q, c):
    return 4 / math.pi / math.sqrt((1 + 2 * q) ** 2 - 4 * q * q * c * c)


def relu_K(q, c):
    return q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)


def relu_Kc(q, c):
    return (math.pi - math.acos(c)) / (2 * math.pi)


QS = [0.05, 0.7, 2.3]
CS = [-0.7, 0.0, 0.5, 0.95, 0.999]


@pytest.mark.parametrize("q", QS)
def test_erf_one_dimensional(q):
    F = erf_K(q, 1.0)
    G = erf_Kc(q, 1.0)
    assert rel(I.F_quad("erf", q), F) < TOL
    assert rel(I.G_quad("erf", q), G) < TOL
    # dF/dq of (2/pi) asin(2q/(1+2q))
    dF = 4 / math.pi / ((1 + 2 * q) * math.sqrt(1 + 4 * q))
    assert rel(I.dF_quad("erf", q), dF) < TOL
    assert rel(float(I.F_mp("erf", q)), F) < 1e-15
    assert rel(float(I.G_mp("erf", q)), G) < 1e-15


@pytest.mark.parametrize("method", ["A", "B"])
@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("c", CS)
def test_erf_arcsine_kernel(q, c, method):
    scale = erf_K(q, 1.0)
    assert rel(I.K_quad("erf", q, q, c, method), erf_K(q, c), scale) < TOL
    assert rel(I.Kc_quad("erf", q, q, c, method), erf_Kc(q, c)) < TOL


@pytest.mark.parametrize("method", ["A", "B"])
@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("c", CS)
def test_relu_arccos_kernel(q, c, method):
    assert rel(I.K_quad("relu", q, q, c, method), relu_K(q, c)) < TOL
    assert rel(I.Kc_quad("relu", q, q, c, method), relu_Kc(q, c)) < TOL


@pytest.mark.parametrize("q", QS)
def test_relu_one_dimensional_and_chi1(q):
    assert rel(I.F_quad("relu", q), q / 2) < TOL
    assert rel(I.dF_quad("relu", q), 0.5) < TOL
    assert rel(I.G_quad("relu", q), 0.5) < TOL
    for sw2 in (0.5, 1.5, 1.9):
        assert rel(sw2 * I.G_quad("relu", q), sw2 / 2) < TOL


def test_relu_fixed_point_closed_form():
    # q* = sigma_b2 / (1 - sigma_w2/(2 rho)), chi_1 = sigma_w2/2
    for sw2, sb2, rho in [(1.5, 0.1, 1.0), (1.2, 0.5, 1.0), (0.8, 0.1, 0.5)]:
        q = I.q_star_quad("relu", sw2, sb2, rho)
        assert rel(q, sb2 / (1 - sw2 / (2 * rho))) < 1e-13


@pytest.mark.parametrize(
    "name, qa, qb, c",
    [
        ("erf", 0.4, 1.6, 0.5),
        ("erf", 2.0, 0.3, -0.7),
        ("relu", 0.5, 2.0, -0.7),
        ("leaky_relu", 0.7, 1.3, 0.95),
        ("linear", 1.0, 2.0, 0.5),
        ("sin", 0.5, 1.5, 0.999),
        ("sin", 2.0, 1.0, -0.7),
    ],
)
def test_two_variance_closed_forms(name, qa, qb, c):
    sK = math.sqrt(I.F_quad(name, qa) * I.F_quad(name, qb))
    for method in ("A", "B"):
        assert rel(I.K_quad(name, qa, qb, c, method), float(I.K_exact(name, qa, qb, c)), sK) < TOL
        assert rel(I.Kc_quad(name, qa, qb, c, method), float(I.Kc_exact(name, qa, qb, c))) < TOL


def test_erf_two_variance_formula_matches_equal_variance_form():
    for q, c in [(0.3, 0.5), (1.7, -0.7)]:
        assert rel(float(I.K_exact("erf", q, q, c)), erf_K(q, c)) < 1e-15
        assert rel(float(I.Kc_exact("erf", q, q, c)), erf_Kc(q, c)) < 1e-15


@pytest.mark.parametrize("name", ["sin", "leaky_relu", "linear", "hard_tanh"])
@pytest.mark.parametrize("q", [0.3, 1.9])
def test_one_dimensional_closed_forms(name, q):
    assert rel(I.F_quad(name, q), float(I.F_exact(name, q))) < TOL
    assert rel(I.G_quad(name, q), float(I.G_exact(name, q))) < TOL
    assert rel(I.dF_quad(name, q), float(I.dF_exact(name, q))) < TOL


def test_hard_tanh_two_routes_unequal_variances():
    # the two parametrisations put the kinks in different places; unequal
    # variances exercise the coincident-kink breakpoints of route B
    for qa, qb, c in [(1.0, 3.0, 0.95), (0.7, 2.2, -0.7)]:
        for fn in (I.K_quad, I.Kc_quad):
            a = fn("hard_tanh", qa, qb, c, "A")
            b = fn("hard_tanh", qa, qb, c, "B")
            assert rel(a, b) < TOL


@pytest.mark.parametrize("name", sorted(NONLINEARITIES))
def test_scalar_functions_float_vs_mpmath(name):
    nl = NONLINEARITIES[name]
    with mpmath.workdps(30):
        for x in (-6.2, -1.3, -0.4, 0.3, 0.9, 1.7, 5.1):
            assert abs(nl.phi(x) - float(nl.phi_mp(mpmath.mpf(x)))) <= 1e-15 * max(1, abs(x))
            d_mp = nl.dphi_mp(mpmath.mpf(x))
            assert abs(nl.dphi(x) - float(d_mp)) <= 1e-15
            # phi' is the derivative of phi (away from kinks)
            assert abs(mpmath.diff(nl.phi_mp, mpmath.mpf(x)) - d_mp) < 1e-20


# ------------------------------------------------------------------ golden.json
@needs_golden
def test_golden_counts_and_errors():
    pts, biv, crit = GOLDEN["points"], GOLDEN["bivariate"], GOLDEN["critical_line"]
    assert len(pts) >= 40 and len(biv) >= 20 and len(crit) == 5
    for r in pts + biv + crit:
        assert r["ref_err"] <= 1e-11, r
    # every nonlinearity has an ordered point with rho = 1 ...
    for name in NONLINEARITIES:
        assert any(r["phi"] == name and r["rho"] == 1.0 and r["chi_1"] < 1 for r in pts), name
    # ... and a chaotic one where chaos exists at finite q*
    for name in set(NONLINEARITIES) - {"relu", "leaky_relu", "linear", "softplus"}:
        assert any(r["phi"] == name and r["rho"] == 1.0 and r["chi_1"] > 1 for r in pts), name
    for name in ("tanh", "erf", "relu", "hard_tanh", "gelu"):
        assert {0.9, 0.5} <= {r["rho"] for r in pts if r["phi"] == name}, name


def _pid(r):
    return f"{r['phi']}-w{r['sigma_w2']}-b{r['sigma_b2']}-rho{r['rho']}"


@needs_golden
@pytest.mark.parametrize("r", GOLDEN["points"] if GOLDEN else [], ids=_pid)
def test_golden_point_equations(r):
    name, sw2, sb2, rho, q = r["phi"], r["sigma_w2"], r["sigma_b2"], r["rho"], r["q_star"]
    F = I.F_quad(name, q)
    assert rel(sw2 / rho * F + sb2, q) < TOL  # V(q*) = q*
    assert rel(F, r["F"]) < TOL
    G = I.G_quad(name, q)
    assert rel(G, r["G"]) < TOL
    assert rel(sw2 * G, r["chi_1"]) < TOL
    slope = sw2 / rho * I.dF_quad(name, q)
    assert rel(slope, r["slope_q"]) < TOL
    assert slope < 1.0
    assert rel(-1.0 / math.log(r["slope_q"]), r["xi_q"]) < TOL
    assert rel(-1.0 / math.log(r["chi_c"]), r["xi_c"]) < TOL
    assert r["phase"] == ("chaotic" if r["chi_1"] > 1 else "ordered")
    if r["c_star"] == 1.0:
        assert rho == 1.0 and r["chi_1"] < 1.0 and r["chi_c"] == r["chi_1"]
        # C(1) = 1 exactly when rho = 1 (it is V(q*)/q*)
    else:
        c = r["c_star"]
        assert 0.0 <= c < 1.0
        K = I.K_quad(name, q, q, c)
        assert abs((sw2 * K + sb2) / q - c) < TOL  # C(c*) = c*
        assert rel(sw2 * I.Kc_quad(name, q, q, c), r["chi_c"]) < TOL
        assert r["chi_c"] < 1.0  # stable
        if rho < 1.0:
            assert (sw2 * F + sb2) / q < 1.0  # C(1) < 1 with dropout


@needs_golden
@pytest.mark.parametrize(
    "r", GOLDEN["bivariate"] if GOLDEN else [], ids=lambda r: f"{r['phi']}-{r['qa']}-{r['qb']}-{r['c']}"
)
def test_golden_bivariate(r):
    # route B here (the stored values come from the mpmath route)
    name, qa, qb, c = r["phi"], r["qa"], r["qb"], r["c"]
    assert rel(I.K_quad(name, qa, qb, c, "B"), r["K"], r["ref_err_scale"]["K"]) < TOL
    assert rel(I.Kc_quad(name, qa, qb, c, "B"), r["Kc"], r["ref_err_scale"]["Kc"]) < TOL


@needs_golden
@pytest.mark.parametrize("r", GOLDEN["critical_line"] if GOLDEN else [], ids=lambda r: f"{r['phi']}-{r['sigma_b2']}")
def test_golden_critical_line(r):
    name, sw2, sb2, q = r["phi"], r["sigma_w2"], r["sigma_b2"], r["q_star"]
    assert rel(sw2 * I.F_quad(name, q) + sb2, q) < TOL
    assert abs(sw2 * I.G_quad(name, q) - 1.0) < TOL
    if name == "tanh" and sb2 == 0.05:
        assert round(sw2, 4) == 1.7610  # Schoenholz et al. 2017
