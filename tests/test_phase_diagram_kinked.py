"""Kinked-φ phase diagrams (tabulated correlation map) against the exact single-point path."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp
from sigprop import correlation_tables as ct
from sigprop._config import devices
from sigprop.phase_diagram import FINISH_TILE, _compiled_finish
from sigprop.point import PHASES

W = np.linspace(0.5, 4.0, 7)
B = np.linspace(0.0, 0.5, 6)
KINKED = ["relu", "leaky_relu", "hard_tanh", "elu", "selu", "maximum(x, 0.3*x) + 0.1*abs(x - 0.5)"]


def _errors(phi: str, rho: float) -> dict[str, float]:
    """Worst error of every grid cell against ``point``: relative for q*, χ₁, ξ_q, ξ_c (away from
    criticality, |χ_c − 1| > 1e-3), absolute for c*, χ_c."""
    d = sp.phase_diagram(phi, W, B, rho)
    worst = dict.fromkeys(("q_star", "chi_1", "xi_q", "c_star", "chi_c", "xi_c"), 0.0)
    for i, sb2 in enumerate(B):
        for j, sw2 in enumerate(W):
            try:
                r = sp.point(phi, sw2, sb2, rho)
            except sp.LengthMapDivergesError:
                assert d.status[i, j] in (1, 3) and math.isinf(d.q_star[i, j]) and np.isnan(d.c_star[i, j])
                continue
            assert d.status[i, j] in (0, 2) and d.phase[i, j] == PHASES.index(r.phase)
            for key in worst:
                ref, got = getattr(r, key), float(getattr(d, key)[i, j])
                if key == "xi_c" and abs(r.chi_c - 1.0) <= 1e-3:
                    continue
                if math.isinf(ref):
                    err = 0.0 if got == ref else math.inf
                elif key in ("c_star", "chi_c"):
                    err = abs(got - ref)
                else:
                    err = abs(got - ref) / max(abs(ref), 1e-300)
                worst[key] = max(worst[key], err)
    return worst


@pytest.mark.parametrize("rho", [1.0, 0.9])
@pytest.mark.parametrize("phi", KINKED)
def test_kinked_grid_equals_points(phi, rho):
    """Every cell of a grid spanning ordered, chaotic and (ReLU-like, ELU) divergent cells."""
    e = _errors(phi, rho)
    assert e["q_star"] <= 1e-8 and e["chi_1"] <= 1e-8 and e["xi_q"] <= 1e-8, e
    assert e["c_star"] <= 1e-7 and e["chi_c"] <= 1e-7, e
    assert e["xi_c"] <= 1e-4, e


def test_kinked_grid_phases_include_both_sides():
    """The test grid really spans the ordered and the chaotic phase (and c* < 1 with dropout)."""
    d = sp.phase_diagram("hard_tanh", W, B)
    assert (d.phase == 0).any() and (d.phase == 2).any()
    assert np.all(d.c_star[d.phase == 0] == 1.0) and np.all(d.c_star[d.phase == 2] < 1.0)
    drop = sp.phase_diagram("hard_tanh", W, B, 0.9)
    assert np.all(drop.c_star < 1.0)


def test_zero_variance_cells_with_dropout():
    """σ_b² = 0, ordered, ρ < 1: q* = 0 and c*, χ_c are the σ_b² → 0 limits (as in ``point``)."""
    w = np.array([0.6, 0.8])
    for phi in ("elu", "hard_tanh", "relu"):
        d = sp.phase_diagram(phi, w, [0.0], 0.9)
        for j, sw2 in enumerate(w):
            r = sp.point(phi, sw2, 0.0, 0.9)
            assert r.q_star == 0.0 and d.q_star[0, j] == 0.0
            assert d.c_star[0, j] == pytest.approx(r.c_star, abs=1e-9)
            assert d.chi_c[0, j] == pytest.approx(r.chi_c, abs=1e-9)


def test_angle_table_is_the_arc_cosine_kernel():
    """ReLU: r(θ) = (1/2 − J(θ))/(1 − cos θ) with J = (sin θ + (π − θ) cos θ)/(2π), D = (π − θ)/(2π)."""
    t = ct.angle_table(sp.nonlinearity("relu"), sp.quadrature.GRID, 1.0)
    theta = np.linspace(0.0, np.pi / 2, 9)[1:]
    x = 2 * theta / ct.THETA_MAX - 1
    r = np.polynomial.chebyshev.chebval(x, t.coeffs[0, :, 0])
    d = np.polynomial.chebyshev.chebval(x, t.coeffs[0, :, 1])
    J = (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    np.testing.assert_allclose(r, (0.5 - J) / (1 - np.cos(theta)), rtol=1e-12)
    np.testing.assert_allclose(d, (np.pi - theta) / (2 * np.pi), rtol=1e-12)
    assert t.tail < 1e-12


def test_kinked_grid_does_not_recompile_for_new_ranges():
    """Same grid shape, new σ ranges: the tabulated solve is compiled once and reused."""
    sp.phase_diagram("hard_tanh", np.linspace(1, 2, 7), np.linspace(0.1, 0.3, 3))
    fn = _compiled_finish(max(1, min(len(devices()), -(-21 // FINISH_TILE))))
    before = fn._cache_size()
    sp.phase_diagram("hard_tanh", np.linspace(2, 4, 7), np.linspace(0.2, 0.5, 3))
    assert fn._cache_size() == before
