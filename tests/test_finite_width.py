"""Exact finite-width ReLU statistics (He initialisation) against simulations and independent references.

With one input, σ_b² = 0 and no dropout the Gram engine is exact, so simulated log-norms and fourth
cumulants must agree with the exact formulas to within sampling error alone (no finite-width allowance):
tolerance 4 standard errors, with the standard errors estimated from the samples themselves (the
distribution-free se of a sample variance, √((m₄ − s⁴)/S), and a jackknife for the cumulant ratio).
"""

import math

import numpy as np
import pytest
from scipy import special

import sigprop as sp
from sigprop import finite_width as fw
from sigprop.simulation import simulate

RNG = np.random.default_rng(20240601)


def he_network(width, depth, seeds, seed):
    """ReLU at He initialisation with one fixed input of the same width; returns (result, q¹)."""
    x = np.random.default_rng(seed).normal(size=width)
    q1 = 2.0 * np.mean(np.maximum(x, 0.0) ** 2)  # σ_w² ‖relu(x)‖²/n₀: the first layer's variance
    return simulate("relu", 2.0, 0.0, width=width, depth=depth, seeds=seeds, inputs=x, seed=seed), q1


def test_log_norm_mean_and_variance_match_the_exact_law_at_n_32():
    """n = 32, L = 8: the sample mean and variance of log‖z^L‖² over 10⁴ networks are the exact ones.

    The variance (≈ 1.31) is 13 % above 5Σ1/n = 1.25: at this width only the exact form passes.
    """
    n, depth = 32, 8
    r, q1 = he_network(n, depth, 10_000, seed=3)
    mean, var = fw.log_norm_statistics(r)
    for layer in (1, 4, depth):
        exact = fw.relu_log_norm_moments([n] * layer, q1=q1)
        assert exact.p_dead < 1e-8
        assert abs(mean.value[layer, 0] - exact.mean) < 4 * mean.se[layer, 0]
        assert abs(var.value[layer, 0] - exact.variance) < 4 * var.se[layer, 0]
    exact = fw.relu_log_norm_moments([n] * depth, q1=q1)
    assert abs(exact.variance_hanin_nica - exact.variance) > 3 * var.se[depth, 0]


def test_exact_variance_approaches_five_over_n():
    """Var log‖z^L‖² → 5Σ_{l<L} 1/n_l + 2/n_L as n grows, with a relative correction O(1/n).

    Hidden layers give 1/n (binomial count of active units) + 4/n (χ² of those units), the linear
    output layer 2/n; the headline 5Σ1/n (Hanin & Nica) differs from this only by 3/n_L.
    """
    gaps = []
    for n in (256, 1024, 4096, 16384):
        m = fw.relu_log_norm_moments([n] * 20)
        gap = m.variance / m.variance_leading - 1
        assert 0 < gap < 5 / n
        assert m.variance_hanin_nica - m.variance_leading == pytest.approx(3 / n, rel=1e-12)
        gaps.append(gap * n)
    assert np.ptp(gaps) / np.mean(gaps) < 0.2  # gap ∝ 1/n


def test_rectified_log_chi2_moments_against_closed_form_and_monte_carlo():
    """log‖relu(g)‖², g ~ N(0, I_n), given at least one active unit.

    n = 1: B = 1 surely, so E = ψ(½) + log 2 = −γ − log 2 and Var = ψ'(½) = π²/2 (closed forms).
    n = 5: direct Monte Carlo of 10⁶ Gaussian vectors (no binomial mixture involved).
    """
    mean, var = fw.rectified_log_norm_moments(1)
    assert mean == pytest.approx(-np.euler_gamma - math.log(2), rel=1e-14)
    assert var == pytest.approx(math.pi**2 / 2, rel=1e-14)
    g = RNG.normal(size=(1_000_000, 5))
    norm2 = np.sum(np.maximum(g, 0) ** 2, axis=1)
    x = np.log(norm2[norm2 > 0])
    mean, var = fw.rectified_log_norm_moments(5)
    assert abs(x.mean() - mean) < 4 * x.std() / np.sqrt(x.size)
    assert abs(x.var() - var) < 4 * np.sqrt((np.mean((x - x.mean()) ** 4) - x.var() ** 2) / x.size)
    e, v = fw.log_chi2_moments(np.array([2.0, 10.0]))  # χ²₂ is 2·Exp(1): E log = log 2 − γ, Var = π²/6
    assert e[0] == pytest.approx(math.log(2) - np.euler_gamma, rel=1e-14)
    assert v[0] == pytest.approx(math.pi**2 / 6, rel=1e-14)
    assert e[1] == pytest.approx(special.digamma(5) + math.log(2), rel=1e-14)


def test_fourth_cumulant_matches_the_exact_product_formula():
    """n = 64, L = 5: κ₄^l = 3[(1 + 5/n)^{l−1} − 1] per layer, within 4 jackknife se over 10⁴ networks.

    The first layer is Gaussian given the input (κ₄ = 0); by l = 5, κ₄ ≈ 1.05 is ~40 se from the
    Gaussian (mean-field) value 0, so the test separates the two.
    """
    n, depth = 64, 5
    r, _ = he_network(n, depth, 10_000, seed=7)
    k = fw.fourth_cumulant(r)
    exact = fw.relu_fourth_cumulant([n] * depth)
    np.testing.assert_array_less(np.abs(k.value[1:, 0] - exact), 4 * k.se[1:, 0])
    assert exact[-1] > 30 * k.se[-1, 0]


def test_fourth_cumulant_identity_and_growth():
    """E[(χ²_B)²]/E[χ²_B]² = 1 + 5/n for B ~ Bin(n, ½) (Monte Carlo), and κ₄ ≈ 15(L − 1)/n for n ≫ L."""
    n = 6
    b = RNG.binomial(n, 0.5, size=2_000_000)
    chi2 = RNG.chisquare(np.maximum(b, 1)) * (b > 0)
    ratio = np.mean(chi2**2) / np.mean(chi2) ** 2
    assert ratio == pytest.approx(1 + 5 / n, rel=0.01)
    k = fw.relu_fourth_cumulant([10_000] * 11)
    assert k[0] == 0.0
    assert k[-1] == pytest.approx(15 * 10 / 10_000, rel=0.01)
    np.testing.assert_allclose(fw.relu_fourth_cumulant([3, 4, 5]), [0.0, 3 * 5 / 3, 3 * ((8 / 3) * (9 / 4) - 1)])


def test_dead_networks_occur_with_the_stated_probability():
    """n = 2: a hidden layer has no active unit with probability ¼; P(dead by layer L) = 1 − (¾)^{L−1}."""
    r, _ = he_network(2, 4, 8_000, seed=11)
    dead = np.mean(r.q[:, -1, 0] == 0.0)
    p = fw.relu_log_norm_moments([2] * 4).p_dead
    assert p == pytest.approx(1 - 0.75**3, rel=1e-14)
    assert abs(dead - p) < 4 * np.sqrt(p * (1 - p) / r.seeds)


def test_bad_input():
    """Widths must be positive integers; the cumulant's error bar needs two seeds."""
    for widths in ([], [0, 3], [2.5], "abc", 7):
        with pytest.raises(sp.InvalidParameterError):
            fw.relu_log_norm_moments(widths)
    with pytest.raises(sp.InvalidParameterError):
        fw.relu_log_norm_moments([4, 4], q1=-1.0)
    one = simulate("relu", 2.0, 0.0, width=8, depth=2, seeds=1)
    with pytest.raises(sp.InvalidParameterError):
        fw.fourth_cumulant(one)
    with pytest.raises(sp.InvalidParameterError):
        fw.log_norm_statistics(one)
