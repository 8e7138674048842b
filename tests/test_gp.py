"""GP inference with the infinite-width kernels: robust sampling, exact posteriors, NTK regression."""

import math

import numpy as np
import pytest
import scipy.linalg

import sigprop as sp
from sigprop.gp import circulant_prior_samples, gp_posterior, ntk_regression_mean, prior_samples
from sigprop.kernels import circle_kernels, kernels, segment_kernels

ORDERED = ("tanh", 1.2, 0.3)  # χ₁ < 1: correlations → c* = 1
CHAOTIC = ("tanh", 4.0, 0.05)  # χ₁ > 1: c* < 1


def test_phases_of_the_chosen_points():
    assert sp.point(*ORDERED).phase == "ordered"
    assert sp.point(*CHAOTIC).phase == "chaotic"


def _covariance_within_statistics(samples: np.ndarray, K: np.ndarray) -> None:
    """Sample second moments within 5 standard errors: Var(f_i f_j) = K_ii K_jj + K_ij² for Gaussians."""
    S = samples.shape[0]
    emp = samples.T @ samples / S
    se = np.sqrt((np.outer(np.diag(K), np.diag(K)) + K**2) / S)
    assert np.all(np.abs(emp - K) <= 5 * se)


def test_prior_samples_have_the_kernel_as_covariance():
    """f ~ N(0, K) for a chaotic-phase NNGP (well conditioned): plain Cholesky, no jitter."""
    K = circle_kernels(CHAOTIC[0], 8, 10, *CHAOTIC[1:]).nngp
    s = prior_samples(K, 20000, seed=1)
    assert (s.method, s.jitter, s.samples.shape) == ("cholesky", 0.0, (20000, 8))
    _covariance_within_statistics(s.samples, K)


def test_fft_samples_apply_the_exact_symmetric_square_root():
    """For circulant K, the FFT method is f = K^{1/2} z with the symmetric root (checked against
    scipy.linalg.sqrtm on the same standard normals, drawn as (n_samples, n) from the seed)."""
    ck = circle_kernels(CHAOTIC[0], 16, 10, *CHAOTIC[1:])
    s = circulant_prior_samples(ck.nngp_row, 5, seed=np.random.default_rng(3))
    z = np.random.default_rng(3).standard_normal((5, 16))
    root = scipy.linalg.sqrtm(ck.nngp).real
    assert s.method == "fft" and s.jitter == 0.0
    np.testing.assert_allclose(s.samples, z @ root, atol=1e-12 * np.abs(root).max())
    _covariance_within_statistics(circulant_prior_samples(ck.nngp_row, 20000, seed=4).samples, ck.nngp)


def test_rank_one_kernel_gives_flat_samples_with_jitter():
    """K = 11ᵀ (the deep ordered limit) is singular: Cholesky needs jitter, each draw is constant."""
    s = prior_samples(np.ones((50, 50)), 10, seed=0)
    assert s.method == "cholesky" and s.jitter > 0.0 and np.all(np.isfinite(s.samples))
    spread = np.ptp(s.samples, axis=1)  # the jitter adds N(0, ε) per entry: 50 of them span < 8√ε
    assert np.all(spread <= 8 * math.sqrt(s.jitter))


def test_indefinite_matrix_falls_back_to_clipped_eigendecomposition():
    """[[1, 2], [2, 1]] has eigenvalues 3 and −1: no jitter ≤ 1e-6 helps, so eigh with −1 clipped.
    The samples then lie on the positive eigenvector (1, 1)/√2, with variance 3/2 per entry."""
    s = prior_samples(np.array([[1.0, 2.0], [2.0, 1.0]]), 4000, seed=2)
    assert s.method == "eigh" and s.clipped == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(s.samples[:, 0], s.samples[:, 1], atol=1e-12)
    assert np.mean(s.samples[:, 0] ** 2) == pytest.approx(1.5, rel=5 * math.sqrt(2 / 4000))


def test_zero_kernel_gives_zero_samples():
    s = prior_samples(np.zeros((3, 3)), 2)
    assert s.method == "eigh" and np.array_equal(s.samples, np.zeros((2, 3)))


def _mean_squared_increment(samples: np.ndarray) -> float:
    return float(np.mean(np.diff(samples, axis=1, append=samples[:, :1]) ** 2))


@pytest.mark.parametrize("point", [ORDERED, CHAOTIC])
def test_increments_of_prior_samples_match_theory(point):
    """Mean squared increment of circle samples = 2(K(0) − K(Δ₁)) within 5 exact standard errors.

    For increments D = A f with A the cyclic difference, Var(Σ D_i²) = 2 tr((A K Aᵀ)²).
    """
    ck = circle_kernels(point[0], 256, 20, *point[1:])
    s = circulant_prior_samples(ck.nngp_row, 50, seed=5)
    n = ck.angles.size
    A = np.roll(np.eye(n), 1, axis=1) - np.eye(n)
    M = A @ ck.nngp @ A.T
    se = math.sqrt(2 * np.trace(M @ M)) / n / math.sqrt(50)
    assert np.trace(M) / n == pytest.approx(2 * (ck.nngp_row[0] - ck.nngp_row[1]), rel=1e-12)
    assert abs(_mean_squared_increment(s.samples) - np.trace(M) / n) <= 5 * se


def test_ordered_samples_are_smooth_and_chaotic_samples_rough():
    """Relative to the variance, squared increments between neighbouring circle points (Δ = 2π/256)
    at depth 50 are ≈ 0 in the ordered phase (c^l → 1: a nearly constant function) and ≈ 2(1 − c*)
    = 1.67 in the chaotic phase (neighbours decorrelate to c* = 0.165 within a few ξ_c = 7 layers)."""
    rough = {}
    for name, point in (("ordered", ORDERED), ("chaotic", CHAOTIC)):
        K = circle_kernels(point[0], 256, 50, *point[1:]).nngp
        s = prior_samples(K, 20, seed=6)
        assert np.all(np.isfinite(s.samples))
        rough[name] = _mean_squared_increment(s.samples) / np.mean(s.samples**2)
    assert rough["ordered"] < 1e-6 and rough["chaotic"] > 1.0


def test_deep_ordered_kernel_is_handled_by_jitter_never_nan():
    """Depth 50 in the ordered phase: K ≈ q* 11ᵀ to rounding. Sampling, the posterior and the NTK
    mean all stay finite; jitter or the eigen fallback is used where the factorisation needs it."""
    seg = segment_kernels(ORDERED[0], [1.0, 0.0], [0.0, 1.0], 40, 50, *ORDERED[1:])
    vals = np.linalg.eigvalsh(seg.nngp)
    assert vals[-2] < 1e-6 * vals[-1]  # numerically rank one
    s = prior_samples(seg.nngp, 5, seed=0)
    assert np.all(np.isfinite(s.samples)) and (s.jitter > 0.0 or s.method == "eigh")
    assert np.all(np.ptp(s.samples, axis=1) <= 1e-2 * np.abs(s.samples).max())  # flat draws
    y = np.sin(3 * seg.t)
    post = gp_posterior(seg.nngp[::2, ::2], seg.nngp[1::2, ::2], seg.nngp[1::2, 1::2], y[::2], 0.0, n_samples=3)
    # whether the rank-one K needs jitter is a rounding accident; conditioning never adds variance
    assert np.all(post.variance <= np.diag(seg.nngp[1::2, 1::2]) * (1 + 1e-9))
    assert all(np.all(np.isfinite(a)) for a in (post.mean, post.variance, post.samples))
    ntk = ntk_regression_mean(seg.ntk[::2, ::2], seg.ntk[1::2, ::2], y[::2])
    assert np.all(np.isfinite(ntk.mean))


def _training_problem():
    """A chaotic-phase tanh kernel on 12 training and 7 test points of a segment (well conditioned)."""
    seg = segment_kernels(CHAOTIC[0], [1.0, -0.5], [-0.4, 1.2], 19, 3, *CHAOTIC[1:])
    train, test = [0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 18], [2, 5, 8, 11, 14, 16, 17]
    y = np.cos(4 * seg.t[train]) + seg.t[train]
    return seg, train, test, y


def test_posterior_matches_direct_linear_algebra():
    """Mean and variance equal K_*(K + σ²I)⁻¹y and diag(K_** − K_*(K + σ²I)⁻¹K_*ᵀ) from numpy.linalg.solve."""
    seg, tr, te, y = _training_problem()
    K, Ks, Kss = seg.nngp[np.ix_(tr, tr)], seg.nngp[np.ix_(te, tr)], seg.nngp[np.ix_(te, te)]
    post = gp_posterior(K, Ks, Kss, y, 0.01)
    A = K + 0.01 * np.eye(len(tr))
    np.testing.assert_allclose(post.mean, Ks @ np.linalg.solve(A, y), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(post.variance, np.diag(Kss - Ks @ np.linalg.solve(A, Ks.T)), rtol=1e-9, atol=1e-12)
    assert (post.method, post.jitter) == ("cholesky", 0.0)
    diag_only = gp_posterior(K, Ks, np.diag(Kss), y, 0.01)
    np.testing.assert_array_equal(diag_only.variance, post.variance)


def test_posterior_mean_interpolates_training_points_as_noise_vanishes():
    """At the training inputs the residual y − mean = σ²(K + σ²I)⁻¹y → 0, linearly in σ² once
    σ² ≪ λ_min(K) (≈ 1e-4 here), and the posterior variance vanishes: with σ² = 0 the GP interpolates."""
    seg, tr, _, y = _training_problem()
    K = seg.nngp[np.ix_(tr, tr)]
    residuals = [np.max(np.abs(gp_posterior(K, K, K, y, noise).mean - y)) for noise in (1e-4, 1e-6, 1e-8, 0.0)]
    assert residuals[0] > residuals[1] > residuals[2] > residuals[3]
    assert residuals[2] / 1e-8 == pytest.approx(residuals[1] / 1e-6, rel=0.05)
    assert residuals[3] <= 1e-9 * np.abs(y).max()
    post = gp_posterior(K, K, K, y, 0.0, n_samples=4, seed=1)
    assert np.all(post.variance <= 1e-9 * np.max(np.diag(K)))
    np.testing.assert_allclose(post.samples, np.broadcast_to(y, (4, len(tr))), atol=1e-3 * np.abs(y).max())


def test_posterior_samples_have_the_posterior_covariance():
    """Posterior draws: mean and second moments within 5 standard errors of the exact posterior."""
    seg, tr, te, y = _training_problem()
    Kss = seg.nngp[np.ix_(te, te)]
    post = gp_posterior(seg.nngp[np.ix_(tr, tr)], seg.nngp[np.ix_(te, tr)], Kss, y, 0.05, n_samples=20000, seed=3)
    Ks, A = seg.nngp[np.ix_(te, tr)], seg.nngp[np.ix_(tr, tr)] + 0.05 * np.eye(len(tr))
    cov = Kss - Ks @ np.linalg.solve(A, Ks.T)
    _covariance_within_statistics(post.samples - post.mean, cov)


def test_ntk_regression_mean_is_the_noiseless_posterior_mean_of_theta():
    """Θ_* Θ⁻¹ y: the GP posterior mean with kernel Θ and σ² = 0, reproducing the training targets."""
    seg, tr, te, y = _training_problem()
    T, Ts = seg.ntk[np.ix_(tr, tr)], seg.ntk[np.ix_(te, tr)]
    ntk = ntk_regression_mean(T, Ts, y)
    post = gp_posterior(T, Ts, seg.ntk[np.ix_(te, te)], y, 0.0)
    np.testing.assert_allclose(ntk.mean, post.mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ntk_regression_mean(T, T, y).mean, y, atol=1e-9 * np.abs(y).max())
    ridge = ntk_regression_mean(T, Ts, np.stack([y, 2 * y], axis=1), reg=0.1)
    np.testing.assert_allclose(ridge.mean[:, 1], 2 * ridge.mean[:, 0], rtol=1e-12)


def test_gp_on_kernels_of_the_general_path():
    """End to end: kernels on [X_train; X_test], then the posterior, with a JAX PRNG key."""
    import jax

    X = np.random.default_rng(0).standard_normal((10, 3))
    k = kernels("relu", X, 3, 1.8, 0.1)
    post = gp_posterior(
        k.nngp[:7, :7], k.nngp[7:, :7], k.nngp[7:, 7:], X[:7, 0], 1e-3, n_samples=2, seed=jax.random.key(0)
    )
    assert post.mean.shape == (3,) and post.samples.shape == (2, 3) and np.all(np.isfinite(post.samples))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: prior_samples(np.ones((2, 3)), 1), "square"),
        (lambda: prior_samples(np.array([[np.nan]]), 1), "finite"),
        (lambda: prior_samples(np.eye(2), -1), "n_samples"),
        (lambda: prior_samples(np.eye(2), 1, seed="x"), "seed"),
        (lambda: circulant_prior_samples(np.ones((2, 2)), 1), "1-D"),
        (lambda: gp_posterior(np.eye(2), np.ones((3, 2)), np.eye(3), np.ones(3), 0.1), "y"),
        (lambda: gp_posterior(np.eye(2), np.ones((3, 3)), np.eye(3), np.ones(2), 0.1), "K_cross"),
        (lambda: gp_posterior(np.eye(2), np.ones((3, 2)), np.eye(2), np.ones(2), 0.1), "K_test"),
        (lambda: gp_posterior(np.eye(2), np.ones((3, 2)), np.eye(3), np.ones(2), -1.0), "noise"),
        (lambda: gp_posterior(np.eye(2), np.ones((3, 2)), np.ones(3), np.ones(2), 0.1, n_samples=2), "full"),
        (lambda: ntk_regression_mean(np.eye(2), np.ones((3, 2)), np.ones(2), reg=np.inf), "reg"),
    ],
)
def test_bad_input_raises_one_line_errors(call, match):
    with pytest.raises(sp.InvalidParameterError, match=match):
        call()
