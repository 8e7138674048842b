"""Batch-norm mean-field theory (sigprop.batchnorm) against closed forms, Monte Carlo and dense
simulations of real BN networks (Yang et al. 2019).

Monte-Carlo comparisons allow 4.5 standard errors (seeded, so deterministic). The simulations run
N = 1000, B = 8, depth 30, 4 seeds: the per-seed growth scatters by ~1 %, finite-width bias is O(1/N),
so the 3 % tolerance of the brief has ample room; the kernel allows 4 se + 3/N.
"""

import math

import numpy as np
import pytest
from scipy.special import gammaln

import sigprop as sp
from sigprop import batchnorm as bn
from sigprop.batchnorm_simulation import simulate_batchnorm

PHIS = {
    "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "hard_tanh": (lambda x: np.clip(x, -1, 1), lambda x: (np.abs(x) < 1) * 1.0),
}


def sphere_samples(rng, n, b):
    """u = √B·Gh/‖Gh‖, h ~ N(0, I): uniform on {Σu = 0, ‖u‖² = B}."""
    h = rng.standard_normal((n, b))
    g = h - h.mean(1, keepdims=True)
    return math.sqrt(b) * g / np.linalg.norm(g, axis=1, keepdims=True), g


def test_linear_closed_forms():
    b = np.arange(4, 200)
    d = bn.batchnorm_quantities("linear", b)
    np.testing.assert_allclose(d["lambda_"], (b - 2) / (b - 3), rtol=1e-12)
    np.testing.assert_allclose(d["q_star"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(d["c_star"], -1.0 / (b - 1), rtol=1e-11)
    mean_chi_sq = np.exp(2 * (0.5 * np.log(2) + gammaln(b / 2) - gammaln((b - 1) / 2)))
    np.testing.assert_allclose(d["lambda_cross"], mean_chi_sq / (b - 1), rtol=1e-12)


def test_relu_large_batch_limit():
    b = np.array([16, 64, 256, 1024, 4096])
    lam = bn.batchnorm_lambda("relu", b)
    limit = math.pi / (math.pi - 1)
    assert np.all(np.diff(lam) < 0) and np.all(lam > limit)
    assert abs(lam[-2] - limit) < 2e-3
    gap = (lam - limit) * b  # O(1/B) approach
    assert abs(gap[-1] / gap[-2] - 1) < 0.01
    r = bn.batchnorm_point("relu", 1024)
    assert r.q_star == pytest.approx(0.5, rel=1e-12)  # E relu(u)² = E u²/2 = 1/2


@pytest.mark.parametrize("phi", sorted(PHIS))
@pytest.mark.parametrize("b", [4, 5, 9])
def test_sphere_moments_monte_carlo(phi, b):
    f, df = PHIS[phi]
    n = 400_000
    u, _ = sphere_samples(np.random.default_rng(b), n, b)
    F, D = f(u), df(u)
    mc = {
        "mean": F[:, 0], "q": F[:, 0] ** 2, "m1": F[:, 0] * u[:, 0], "a1": D[:, 0] ** 2,
        "a3": (D[:, 0] * u[:, 0]) ** 2, "p": F[:, 0] * F[:, 1], "a2": D[:, 0] * D[:, 1],
        "a4": D[:, 0] * D[:, 1] * u[:, 0] * u[:, 1], "q2": (F[:, 0] * u[:, 0]) ** 2,
        "pxx": F[:, 0] * F[:, 1] * u[:, 0] ** 2, "pxy": F[:, 0] * F[:, 1] * u[:, 0] * u[:, 1],
        "rxx": (F[:, 1] * u[:, 0]) ** 2,
    }  # fmt: skip
    th = bn.sphere_moments(phi, [b])
    for k, v in mc.items():
        assert abs(th[k][0] - v.mean()) <= 4.5 * v.std() / math.sqrt(n) + 1e-12, k


@pytest.mark.parametrize("phi", ["tanh", "relu"])
def test_lambda_is_the_backward_map_eigenvalue(phi):
    """λ = tr E[σ_w² Jᵀ G J]/(B−1) with J = diag φ'(u)·(√B/‖Gh‖)(G − ûûᵀ), h ~ N(0, σ_w² K*)."""
    b, n = 6, 200_000
    df = PHIS[phi][1]
    r = bn.batchnorm_point(phi, b)
    s = r.q_star * (1 - r.c_star)
    u, g = sphere_samples(np.random.default_rng(0), n, b)
    norm_sq = s * np.sum(g * g, axis=1)  # ‖Gh‖² for h ~ N(0, K*) (σ_w² = 1): s·χ²_{B−1}
    uh = u / math.sqrt(b)
    G = np.eye(b) - 1.0 / b
    P = G[None] - uh[:, :, None] * uh[:, None, :]
    M = P * df(u)[:, None, :]  # P·D
    samples = b / norm_sq * np.einsum("nij,jk,nlk->nil", M, G, M).trace(axis1=1, axis2=2) / (b - 1)
    assert abs(samples.mean() - r.lambda_) <= 4.5 * samples.std() / math.sqrt(n)


@pytest.mark.parametrize("phi", ["tanh", "relu"])
def test_cross_batch_map_monte_carlo(phi):
    """K₁₂ ↦ μ²11ᵀ + λ_x·(s*/s) G K₁₂ G to first order (s: the G-part of the within-batch Σ)."""
    b, n, eps = 6, 400_000, 0.05
    f = PHIS[phi][0]
    r = bn.batchnorm_point(phi, b)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((b, b))
    d = (a + a.T) / np.abs(a + a.T).max()
    sig, s = 1.3 * np.eye(b) + 0.4, 1.3
    z = rng.standard_normal((n, 2 * b))
    out = []
    for sign in (1, -1):
        L = np.linalg.cholesky(np.block([[sig, sign * eps * d], [sign * eps * d, sig]]))
        h = z @ L.T
        x1 = f(bn_np(h[:, :b]))
        x2 = f(bn_np(h[:, b:]))
        out.append(x1.T @ x2 / n)
    G = np.eye(b) - 1.0 / b
    slope = (out[0] - out[1]) / (2 * eps)
    predicted = r.lambda_cross * r.q_star * (1 - r.c_star) / s * (G @ d @ G)
    np.testing.assert_allclose(slope, predicted, atol=0.01 * np.abs(predicted).max() + 3e-3)
    np.testing.assert_allclose((out[0] + out[1]) / 2, r.mean**2, atol=3e-3)


def forward_map_slope(f, K, E, b, eps, z):
    """⟨E, G dF G⟩/‖E‖² for F(K) = E φ(BN h)φ(BN h)ᵀ, h ~ N(0, K), by central differences with
    common random numbers z (the same normals on both sides, so the noise of F cancels to O(eps))."""
    G = np.eye(b) - 1.0 / b
    out = []
    for sign in (1, -1):
        x = f(bn_np(z @ np.linalg.cholesky(K + sign * eps * E).T))
        out.append(x.T @ x / len(x))
    return np.sum(E * (G @ (out[0] - out[1]) @ G)) / (2 * eps * np.sum(E * E))


def test_forward_eigenvalues_linear_closed_form():
    """Linear φ: E[ûûᵀ ûᵀEû] = 2E/((B−1)(B+1)) on the sphere gives λ_L = λ_M = (B−1)/(B+1)."""
    b = np.arange(4, 130)
    d = bn.batchnorm_quantities("linear", b)
    np.testing.assert_allclose(d["lambda_l"], (b - 1) / (b + 1), rtol=1e-11)
    np.testing.assert_allclose(d["lambda_m"], (b - 1) / (b + 1), rtol=1e-11)
    np.testing.assert_allclose(d["xi_forward"], -1 / np.log((b - 1) / (b + 1)), rtol=1e-9)


@pytest.mark.parametrize("phi", ["tanh", "relu", "hard_tanh"])
def test_forward_eigenvalues_monte_carlo(phi):
    """λ_L and λ_M are the slopes of the within-batch map at K* along an 𝕃 and an 𝕄 direction;
    the symmetric directions (G itself, and 11ᵀ) have slope 0."""
    b, n, reps = 8, 200_000, 6
    f = PHIS[phi][0]
    r = bn.batchnorm_point(phi, b)
    K = r.q_star * ((1 - r.c_star) * np.eye(b) + r.c_star)
    G = np.eye(b) - 1.0 / b
    e_l = G @ np.diag(np.r_[1.0, -1.0, np.zeros(b - 2)]) @ G
    e_m = np.zeros((b, b))
    for i, j, sign in ((0, 1, 1), (2, 3, 1), (0, 2, -1), (1, 3, -1)):
        e_m[i, j] = e_m[j, i] = sign
    rng = np.random.default_rng(11)
    eps = 1e-3 * r.q_star
    for direction, theory in ((e_l, r.lambda_l), (e_m, r.lambda_m), (G, 0.0), (np.ones((b, b)), 0.0)):
        slopes = [forward_map_slope(f, K, direction, b, eps, rng.standard_normal((n, b))) for _ in range(reps)]
        se = np.std(slopes, ddof=1) / math.sqrt(reps)
        assert abs(np.mean(slopes) - theory) <= 4.5 * se + 1e-4, (np.mean(slopes), theory, se)
    assert 0 < r.lambda_l < 1 and 0 < r.lambda_m < 1
    assert r.xi_forward == pytest.approx(-1 / math.log(max(r.lambda_l, r.lambda_m)))


def test_simulated_batch_kernel_relaxes_at_the_forward_rates():
    """Real BN networks (N = 1000, B = 8, 12 seeds) fed a non-symmetric input Gram I + aE: the 𝕃 and 𝕄
    components of K^l shrink per layer by λ_L and λ_M. Measured as the geometric mean of three
    successive ratios; 8 % allows for the finite width and the O(a²) nonlinearity of the first layers
    (measured: tanh 0.52, 0.49, 0.49 against λ_L = 0.496; 0.857, 0.865, 0.878 against λ_M = 0.837)."""
    b = 8
    r = bn.batchnorm_point("tanh", b)
    s = r.q_star * (1 - r.c_star)
    G = np.eye(b) - 1.0 / b
    e_l = G @ np.diag(np.r_[1.0, -1.0, np.zeros(b - 2)]) @ G
    e_m = np.zeros((b, b))
    for i, j, sign in ((0, 1, 1), (2, 3, 1), (0, 2, -1), (1, 3, -1)):
        e_m[i, j] = e_m[j, i] = sign
    for e, lam, a in ((e_l, r.lambda_l, 0.6), (e_m, r.lambda_m, 0.3)):
        sim = simulate_batchnorm("tanh", b, width=1000, depth=5, seeds=12, input_gram=np.eye(b) + a * e)
        part = np.einsum("slab,ab->l", sim.kernel, e) / (12 * np.sum(e * e) * s)  # relative component, mean
        assert part[1] == pytest.approx(a * lam, rel=0.1)
        rate = (part[4] / part[1]) ** (1 / 3)
        assert rate == pytest.approx(lam, rel=0.08), (rate, lam)
    with pytest.raises(sp.InvalidParameterError, match="positive definite"):
        simulate_batchnorm("tanh", b, width=64, depth=2, seeds=1, input_gram=np.eye(b) + 2 * e_m)
    with pytest.raises(sp.InvalidParameterError, match="symmetric"):
        simulate_batchnorm("tanh", b, width=64, depth=2, seeds=1, input_gram=np.eye(b + 1))


def bn_np(h):
    g = h - h.mean(1, keepdims=True)
    return g / np.sqrt(np.mean(g * g, axis=1, keepdims=True))


@pytest.mark.parametrize("phi", ["linear", "relu", "tanh"])
def test_simulation_agrees(phi):
    b, width = 8, 1000
    r = bn.batchnorm_point(phi, b)
    sim = simulate_batchnorm(phi, b, width=width, depth=30, seeds=4)
    assert sim.mean_growth() == pytest.approx(r.lambda_, rel=0.03)
    k = sim.kernel[:, 5:]
    diag = np.einsum("slaa->sl", k) / b
    off = (k.sum((2, 3)) - np.einsum("slaa->sl", k)) / (b * (b - 1))
    for sim_v, th in ((diag, r.q_star), (off, r.q_star * r.c_star)):
        per_seed = sim_v.mean(1)
        se = per_seed.std(ddof=1) / math.sqrt(len(per_seed))
        assert abs(per_seed.mean() - th) <= 4 * se + 3.0 / width


def test_vectorised_matches_point_and_custom_expression():
    lam = bn.batchnorm_lambda("tanh", [4, 7, 32])
    assert lam[1] == pytest.approx(bn.batchnorm_point("tanh", 7).lambda_, rel=1e-14)
    custom = bn.batchnorm_point("maximum(x, 0)", 7)
    relu = bn.batchnorm_point(sp.nonlinearity("relu"), 7)
    assert custom.lambda_ == pytest.approx(relu.lambda_, rel=1e-10)
    assert custom.c_star == pytest.approx(relu.c_star, rel=1e-10)


@pytest.mark.parametrize("bad", [3, 2, 0, -5, 4.5, "8", True, [], [8, 3]])
def test_bad_batch_size(bad):
    with pytest.raises(sp.InvalidParameterError):
        bn.batchnorm_lambda("tanh", bad) if isinstance(bad, list) else bn.batchnorm_point("tanh", bad)


def test_unknown_nonlinearity():
    with pytest.raises(sp.UnknownNonlinearityError):
        bn.batchnorm_point("nosuchphi", 8)
    with pytest.raises(sp.InvalidParameterError):
        simulate_batchnorm("tanh", 3)
