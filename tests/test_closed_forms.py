"""Quadrature against closed forms: the erf arcsine kernel and the ReLU arc-cosine kernel."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

import sigprop as sp
from sigprop import expectations as ex
from sigprop import quadrature as qd
from sigprop.closed_forms import erf_kernel, relu_kernel

CASES = [
    (q, qb, c)
    for q, qb in [(1e-8, 1e-8), (0.3, 0.3), (1.0, 2.0), (3.0, 3.0)]
    for c in (-0.9, 0.0, 0.5, 0.99, 0.99999, 1.0)
]


@pytest.mark.parametrize(("name", "closed"), [("erf", erf_kernel), ("relu", relu_kernel)])
@pytest.mark.parametrize(("qa", "qb", "c"), CASES)
def test_kernel_matches_closed_form(name, closed, qa, qb, c):
    """E[φ(u₁)φ(u₂)] and E[φ'(u₁)φ'(u₂)] to 1e-12 of the scale √(qa qb)·E[φ'²]."""
    K, Kc = ex.bivariate(sp.nonlinearity(name), qd.DEFAULT, jnp.array([qa]), jnp.array([qb]), jnp.array([c]))
    K_ref, Kc_ref = closed(qa, qb, c)
    scale = np.sqrt(qa * qb)
    assert abs(float(K[0]) - K_ref) <= 1e-12 * scale
    assert abs(float(Kc[0]) - Kc_ref) <= 1e-12 * max(abs(Kc_ref), 1e-3)


@pytest.mark.parametrize(("sw2", "sb2", "rho"), [(0.8, 0.1, 1.0), (2.0, 0.1, 1.0), (3.0, 0.3, 1.0), (2.0, 0.1, 0.8)])
def test_erf_fixed_points_from_arcsine_kernel(sw2, sb2, rho):
    """q*, c*, χ₁, χ_c for erf from the closed form, solved with brentq, to 1e-10."""
    q = brentq(lambda q: sw2 / rho * erf_kernel(q, q, 1.0)[0] + sb2 - q, 1e-12, 50, xtol=1e-15, rtol=1e-15)
    G = erf_kernel(q, q, 1.0)[1]
    r = sp.point("erf", sw2, sb2, rho)
    assert r.q_star == pytest.approx(q, rel=1e-10)
    assert r.chi_1 == pytest.approx(sw2 * G, rel=1e-10)
    C = lambda c: (sw2 * erf_kernel(q, q, c)[0] + sb2) / q - c  # noqa: E731
    if rho == 1.0 and sw2 * G <= 1:
        c_star = 1.0
    else:
        c_star = brentq(C, 0.0, 1.0 - 1e-9 if rho == 1.0 else 1.0, xtol=1e-15, rtol=1e-15)
    assert r.c_star == pytest.approx(c_star, rel=1e-10)
    assert r.chi_c == pytest.approx(sw2 * erf_kernel(q, q, c_star)[1], rel=1e-10)


@pytest.mark.parametrize(("sw2", "sb2", "rho"), [(1.0, 0.5, 1.0), (1.9, 0.01, 1.0), (1.5, 0.1, 0.9), (0.5, 0.0, 1.0)])
def test_relu_closed_form(sw2, sb2, rho):
    """ReLU: q* = σ_b²/(1 − σ_w²/2ρ), χ₁ = σ_w²/2 exactly, c* from the arc-cosine kernel."""
    r = sp.point("relu", sw2, sb2, rho)
    assert r.q_star == pytest.approx(sb2 / (1 - sw2 / (2 * rho)), rel=1e-13, abs=1e-300)
    assert r.chi_1 == pytest.approx(sw2 / 2, rel=1e-14)
    if rho < 1:
        q = r.q_star
        c_star = brentq(lambda c: (sw2 * relu_kernel(q, q, c)[0] + sb2) / q - c, 0.0, 1.0, xtol=1e-15)
        assert r.c_star == pytest.approx(c_star, rel=1e-12)
        assert r.chi_c == pytest.approx(sw2 * relu_kernel(q, q, c_star)[1], rel=1e-12)
    else:
        assert r.c_star == 1.0 and r.chi_c == pytest.approx(sw2 / 2, rel=1e-14)
