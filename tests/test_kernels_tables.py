"""Table path (method="table": Chebyshev panels of r, D) of circle_kernels and correlation_map
against the exact polar-rule path, for kinked φ."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import sigprop as sp
from sigprop import correlation_tables as ct

KINKED = ["relu", "hard_tanh", "elu", "maximum(x, 0.3*x) + 0.1*abs(x - 0.5)"]
# (σ_w², σ_b², ρ): ordered, chaotic, σ_b² = 0, dropout 0.9
SIGMAS = [(0.8, 0.2, 1.0), (1.9, 0.05, 1.0), (2.0, 0.0, 1.0), (1.5, 0.1, 0.9)]
TOL = 1e-7
N = 33  # odd: no Δ = π point, where c = −1 up to rounding and E[φ'φ'] ~ √(1 + c) is ill-conditioned in both paths


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("phi", KINKED)
@pytest.mark.parametrize("sigmas", SIGMAS)
def test_circle_table_matches_exact(phi, sigmas):
    sw2, sb2, rho = sigmas
    depth = 8
    try:
        ref = sp.circle_kernels(phi, N, depth, sw2, sb2, rho)
    except sp.LengthMapDivergesError:
        pytest.skip("diverges")
    got = sp.circle_kernels(phi, N, depth, sw2, sb2, rho, method="table")
    assert _rel(got.nngp_row, ref.nngp_row) <= TOL
    assert _rel(got.ntk_row, ref.ntk_row) <= TOL


@pytest.mark.parametrize("phi", KINKED)
@pytest.mark.parametrize("sigmas", SIGMAS)
def test_correlation_map_table_matches_exact(phi, sigmas):
    sw2, sb2, rho = sigmas
    c = np.linspace(-1.0, 1.0, 41)
    try:
        C, dC = sp.correlation_map(phi, c, sw2, sb2, rho)
    except sp.LengthMapDivergesError:
        pytest.skip("diverges")
    C2, dC2 = sp.correlation_map(phi, c, sw2, sb2, rho, method="table")
    assert np.max(np.abs(C2 - C)) <= TOL * max(1.0, np.max(np.abs(C)))
    assert np.max(np.abs(dC2 - dC)) <= TOL * max(1.0, np.max(np.abs(dC)))


def test_relu_table_matches_arc_cosine():
    """ReLU NNGP/NTK against the closed-form arc-cosine recursion (Cho & Saul 2009; plain NumPy), 64 points."""
    sw2, sb2, depth, n = 2.0, 0.1, 12, 64
    theta = 2 * np.pi * np.arange(n) / n
    K = sw2 * np.cos(theta) / 2 + sb2
    q = sw2 / 2 + sb2
    T, t_d = K.copy(), q
    for _ in range(depth):
        c = np.clip(K / q, -1, 1)
        a = np.arccos(c)
        E = q * (np.sin(a) + (np.pi - a) * c) / (2 * np.pi)
        Ec = (np.pi - a) / (2 * np.pi)
        K_new = sw2 * E + sb2
        t_d = (sw2 * q / 2 + sb2) + sw2 * 0.5 * t_d
        T = K_new + sw2 * Ec * T
        K, q = K_new, sw2 * q / 2 + sb2
    got = sp.circle_kernels("relu", n, depth, sw2, sb2, method="table")
    assert _rel(got.nngp_row, K) <= TOL
    assert _rel(got.ntk_row[1:], T[1:]) <= TOL
    assert abs(got.ntk_row[0] - t_d) <= TOL * t_d


def test_no_rebuild_or_recompile_on_new_sigmas():
    from app.compute import VIEW_QUADRATURE as V

    phi = sp.nonlinearity("hard_tanh")
    c = np.linspace(-1.0, 1.0, 201)
    warm = [(1.2, 0.1), (1.25, 0.12)]
    for sw2, sb2 in warm:  # builds the panels this σ region needs, compiles once
        sp.circle_kernels(phi, 64, 10, sw2, sb2, quadrature=V, method="table")
        sp.correlation_map(phi, c, sw2, sb2, quadrature=V, method="table")
    misses = ct.panel.cache_info().misses
    compiles = []

    def listener(event, duration, **_):
        if "backend_compile" in event:
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for sw2, sb2 in [(1.22, 0.11), (1.21, 0.105), (1.24, 0.115)]:
            sp.circle_kernels(phi, 64, 10, sw2, sb2, quadrature=V, method="table")
            sp.correlation_map(phi, c, sw2, sb2, quadrature=V, method="table")
    finally:
        jax.monitoring.clear_event_listeners()
    assert ct.panel.cache_info().misses == misses
    assert compiles == []
