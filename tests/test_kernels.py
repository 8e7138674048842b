"""NNGP and NTK kernels: closed forms, an independent scipy recursion, finite-network ensembles, fast paths."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import dblquad, quad

import sigprop as sp
from sigprop.closed_forms import erf_kernel, relu_kernel
from sigprop.kernels import circle_kernels, kernels, segment_kernels

RNG = np.random.default_rng(20240601)
X_SMALL = RNG.standard_normal((12, 3)) * np.linspace(0.4, 1.6, 12)[:, None]  # 66 pairs: > one ReLU chunk
_DIRECTIONS = RNG.standard_normal((100, 4))
X_MANY = _DIRECTIONS / np.linalg.norm(_DIRECTIONS, axis=1, keepdims=True) * np.linspace(0.3, 2.2, 100)[:, None]
"""4950 pairs: more than one smooth-φ chunk (4096), so chunking and padding are exercised. Norms keep
K⁰(x, x) ≤ 2.5, inside the range where 256-node Gauss–Hermite gives ~1e-12 (README, "Accuracy")."""


def reference_kernels(closed, X, X2, depth, sw2, sb2, rho):
    """The NNGP/NTK recursion written out with a closed-form (K, Kc), independent of sigprop.kernels.

    Inputs Z = [X; X2]; the diagonal uses σ_w²/ρ (dropout), pairs of distinct rows σ_w².
    """
    Z = X if X2 is None else np.concatenate([X, X2])
    d = Z.shape[1]
    K = sw2 * Z @ Z.T / d + sb2
    T = K.copy()
    for _ in range(depth):
        q = np.diag(K)
        c = K / np.sqrt(np.outer(q, q))
        np.fill_diagonal(c, 1.0)
        E, Ec = closed(q[:, None], q[None, :], np.clip(c, -1.0, 1.0))
        W = np.full_like(K, sw2)
        np.fill_diagonal(W, sw2 / rho)
        K = W * E + sb2
        T = K + W * Ec * T
    if X2 is None:
        return K, T
    n = X.shape[0]
    return K[:n, n:], T[:n, n:]


@pytest.mark.parametrize(("name", "closed"), [("relu", relu_kernel), ("erf", erf_kernel)])
@pytest.mark.parametrize(("depth", "sw2", "sb2", "rho"), [(1, 2.0, 0.0, 1.0), (5, 1.5, 0.1, 1.0), (4, 1.6, 0.2, 0.85)])
def test_nngp_and_ntk_match_arccos_and_arcsine_recursions(name, closed, depth, sw2, sb2, rho):
    """K^L and Θ^L agree with the ReLU arc-cosine / erf arcsine recursions to 1e-10 of max|K|.

    The core's expectations are ~1e-12 accurate; the recursion multiplies errors by at most
    σ_w²E[φ'²]/ρ ≲ 2 per layer, so 1e-10 after ≤ 5 layers leaves a margin.
    """
    X = X_SMALL if name == "relu" else X_MANY
    got = kernels(name, X, depth, sw2, sb2, rho)
    K, T = reference_kernels(closed, X, None, depth, sw2, sb2, rho)
    np.testing.assert_allclose(got.nngp, K, rtol=0, atol=1e-10 * np.abs(K).max())
    np.testing.assert_allclose(got.ntk, T, rtol=0, atol=1e-10 * np.abs(T).max())
    assert np.array_equal(got.nngp, got.nngp.T) and np.array_equal(got.ntk, got.ntk.T)


@pytest.mark.parametrize(("name", "closed"), [("relu", relu_kernel), ("erf", erf_kernel)])
def test_cross_kernels_match_recursion(name, closed):
    """Cross-kernels K(X, X2) (distinct forward passes, so no 1/ρ anywhere) against the recursion."""
    X, X2 = X_SMALL[:5], X_SMALL[5:] * 1.3
    got = kernels(name, X, 3, 1.8, 0.05, 0.9, X2=X2)
    K, T = reference_kernels(closed, X, X2, 3, 1.8, 0.05, 0.9)
    assert got.nngp.shape == (5, 7)
    np.testing.assert_allclose(got.nngp, K, rtol=0, atol=1e-10 * np.abs(K).max())
    np.testing.assert_allclose(got.ntk, T, rtol=0, atol=1e-10 * np.abs(T).max())


def test_cross_kernel_equals_block_of_full_kernel_without_dropout():
    """K(X, X2) is the off-diagonal block of K([X; X2]) when ρ = 1."""
    full = kernels("tanh", X_SMALL, 4, 2.2, 0.1)
    cross = kernels("tanh", X_SMALL[:4], 4, 2.2, 0.1, X2=X_SMALL[4:])
    np.testing.assert_allclose(cross.nngp, full.nngp[:4, 4:], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cross.ntk, full.ntk[:4, 4:], rtol=1e-13, atol=1e-15)


def test_two_inputs_follow_the_trajectories_of_the_maps():
    """With dropout, K^L(x, x) = q_a^L and K^L(x, x')/√(q_a q_b) = c^L of sigprop.trajectories."""
    x = np.array([[0.9, -0.3, 0.4], [0.2, 1.1, -0.5]])
    k = kernels("tanh", x, 6, 2.5, 0.1, 0.8).nngp
    K0 = 2.5 * x @ x.T / 3 + 0.1
    t = sp.trajectories(
        "tanh", 2.5, 0.1, 6, q0=K0[0, 0], q0_b=K0[1, 1], c0=K0[0, 1] / math.sqrt(K0[0, 0] * K0[1, 1]), dropout=0.8
    )
    assert k[0, 0] == pytest.approx(t.q_a[-1], rel=1e-13)
    assert k[1, 1] == pytest.approx(t.q_b[-1], rel=1e-13)
    assert k[0, 1] / math.sqrt(k[0, 0] * k[1, 1]) == pytest.approx(t.c[-1], rel=1e-13)


def _gauss(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _scipy_expectation(f, g, qa, qb, c):
    """E[f(u₁)g(u₂)] by adaptive 2-D quadrature over z₁, z₂ ∈ [−12, 12] (tail mass e^{−72})."""
    sa, sb, s = math.sqrt(qa), math.sqrt(qb), math.sqrt(1.0 - c * c)

    def integrand(z2, z1):
        return f(sa * z1) * g(sb * (c * z1 + s * z2)) * _gauss(z1) * _gauss(z2)

    return dblquad(integrand, -12, 12, -12, 12, epsabs=1e-14, epsrel=1e-13)[0]


def test_tanh_two_inputs_depth_two_against_scipy_nested_quadrature():
    """A 2-input tanh NNGP and NTK at depth 2, recomputed with scipy's adaptive quad/dblquad, to 1e-10."""
    sw2, sb2 = 1.9, 0.15
    x = np.array([[1.0, 0.5], [-0.4, 1.3]])
    K = sw2 * x @ x.T / 2 + sb2
    T = K.copy()
    tanh, dtanh = math.tanh, lambda u: 1.0 / math.cosh(u) ** 2
    for _ in range(2):
        qa, qb, kab = K[0, 0], K[1, 1], K[0, 1]
        c = kab / math.sqrt(qa * qb)
        F = [quad(lambda z, q=q: tanh(math.sqrt(q) * z) ** 2 * _gauss(z), -12, 12, epsabs=1e-15)[0] for q in (qa, qb)]
        G = [quad(lambda z, q=q: dtanh(math.sqrt(q) * z) ** 2 * _gauss(z), -12, 12, epsabs=1e-15)[0] for q in (qa, qb)]
        E = _scipy_expectation(tanh, tanh, qa, qb, c)
        Ec = _scipy_expectation(dtanh, dtanh, qa, qb, c)
        Knew = np.array([[sw2 * F[0] + sb2, sw2 * E + sb2], [sw2 * E + sb2, sw2 * F[1] + sb2]])
        T = Knew + sw2 * np.array([[G[0], Ec], [Ec, G[1]]]) * T
        K = Knew
    got = kernels("tanh", x, 2, sw2, sb2)
    np.testing.assert_allclose(got.nngp, K, rtol=1e-10)
    np.testing.assert_allclose(got.ntk, T, rtol=1e-10)


def test_depth_zero_is_the_linear_model():
    """L = 0: K = Θ = σ_w² X Xᵀ/d + σ_b² (one Dense layer), to rounding."""
    k = kernels("tanh", X_SMALL, 0, 1.3, 0.2)
    expected = 1.3 * X_SMALL @ X_SMALL.T / 3 + 0.2
    np.testing.assert_allclose(k.nngp, expected, rtol=0, atol=1e-15 * np.abs(expected).max())
    np.testing.assert_array_equal(k.ntk, k.nngp)


# ---------------------------------------------------------------------------- finite networks
X_NET = np.array([[1.0, 0.0, 0.5], [0.3, -1.2, 0.8], [-0.7, 0.4, 0.1], [1.5, 1.0, -0.6]])
SW2, SB2, WIDTH = 1.7, 0.2, 512
ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


def _init(key, sizes):
    keys = jax.random.split(key, 2 * (len(sizes) - 1))
    return [
        (jax.random.normal(keys[2 * i], (a, b)), jax.random.normal(keys[2 * i + 1], (b,)))
        for i, (a, b) in enumerate(itertools.pairwise(sizes))
    ]


def _forward(params, masks, X, act):
    """NTK parameterisation: z = σ_w/√fan_in · W a + σ_b b, with W, b ~ N(0, 1); a = mask ⊙ φ(z) in hidden layers."""
    z = X
    for layer, (W, b) in enumerate(params):
        if layer:
            z = act(z) * masks[layer - 1]
        z = math.sqrt(SW2) * (z @ W) / math.sqrt(z.shape[1]) + math.sqrt(SB2) * b
    return z


def _masks(key, depth, rho):
    """Dropout masks Bernoulli(ρ)/ρ, independent for every input and unit (separate forward passes)."""
    keys = jax.random.split(key, depth)
    return [jax.random.bernoulli(k, rho, (X_NET.shape[0], WIDTH)) / rho for k in keys]


def _check_ensemble(per_network: np.ndarray, expected: np.ndarray, depth: int, wrong: np.ndarray) -> None:
    """mean over networks ≈ expected within 5 standard errors plus a finite-width bias allowance.

    The standard error comes from the spread across the S independent networks. At depth 1 the
    estimators are unbiased at any width (the first layer's pre-activations are exactly Gaussian
    with covariance K⁰, and the readout is independent); deeper, the mean of the empirical kernel
    has O(1/N) corrections (Yaida 2020; Hanin & Nica 2019), allowed as 2(L−1)/N · max|K|. The
    ``wrong`` kernel (σ_w² off by 10%) must be rejected, so the tolerance has discriminating power.
    """
    mean = per_network.mean(axis=0)
    se = per_network.std(axis=0, ddof=1) / math.sqrt(per_network.shape[0])
    tol = 5.0 * se + 2.0 * (depth - 1) / WIDTH * np.abs(expected).max()
    assert np.all(np.abs(mean - expected) <= tol), np.max(np.abs(mean - expected) / tol)
    assert np.max(np.abs(mean - wrong) / tol) > 1.0


@pytest.mark.parametrize(("name", "rho"), [("tanh", 1.0), ("relu", 1.0), ("tanh", 0.8)])
def test_nngp_is_output_covariance_of_wide_random_networks(name, rho):
    """E[f(x)f(x')] over 256 random networks of width 512 (256 outputs each) ≈ K^L at L = 2.

    With dropout each input gets its own masks, so the diagonal picks up σ_w²/ρ and the
    off-diagonal does not (Schoenholz et al. 2017, §5).
    """
    depth, n_nets, n_out = 2, 256, 256
    sizes = [X_NET.shape[1]] + [WIDTH] * depth + [n_out]

    def second_moment(key):
        k1, k2 = jax.random.split(key)
        f = _forward(_init(k1, sizes), _masks(k2, depth, rho), X_NET, ACTIVATIONS[name])
        return f @ f.T / n_out

    keys = jax.random.split(jax.random.key(7), n_nets)
    per_network = np.asarray(jax.jit(lambda ks: jax.lax.map(second_moment, ks, batch_size=8))(keys))
    expected = kernels(name, X_NET, depth, SW2, SB2, rho).nngp
    wrong = kernels(name, X_NET, depth, 1.1 * SW2, SB2, rho).nngp
    _check_ensemble(per_network, expected, depth, wrong)


@pytest.mark.parametrize("name", ["tanh", "relu"])
def test_ntk_is_mean_empirical_tangent_kernel(name):
    """Σ_p ∂f(x)/∂p ∂f(x')/∂p over all weights and biases, averaged over 32 networks of width 512, ≈ Θ^L at L = 2."""
    depth, n_nets = 2, 32
    sizes = [X_NET.shape[1]] + [WIDTH] * depth + [1]
    ones = [jnp.ones((X_NET.shape[0], WIDTH))] * depth

    def tangent_kernel(key):
        jac = jax.jacrev(lambda p: _forward(p, ones, X_NET, ACTIVATIONS[name])[:, 0])(_init(key, sizes))
        J = jnp.concatenate([g.reshape(X_NET.shape[0], -1) for g in jax.tree_util.tree_leaves(jac)], axis=1)
        return J @ J.T

    keys = jax.random.split(jax.random.key(11), n_nets)
    per_network = np.asarray(jax.jit(lambda ks: jax.lax.map(tangent_kernel, ks, batch_size=4))(keys))
    expected = kernels(name, X_NET, depth, SW2, SB2).ntk
    wrong = kernels(name, X_NET, depth, 1.1 * SW2, SB2).ntk
    _check_ensemble(per_network, expected, depth, wrong)


# ---------------------------------------------------------------------------- fast paths
@pytest.mark.parametrize(("name", "n", "radius", "rho"), [("tanh", 12, 1.0, 0.9), ("relu", 13, 1.5, 1.0)])
def test_circle_fast_path_equals_general_path(name, n, radius, rho):
    """On the circle only q^l and the n//2 distinct angle differences are propagated; the circulant
    matrices equal the general computation on the same n inputs (even and odd n) to 1e-12."""
    ck = circle_kernels(name, n, 5, 1.7, 0.1, rho, radius=radius)
    X = radius * np.stack([np.cos(ck.angles), np.sin(ck.angles)], axis=1)
    k = kernels(name, X, 5, 1.7, 0.1, rho)
    np.testing.assert_allclose(ck.nngp, k.nngp, rtol=0, atol=1e-12 * np.abs(k.nngp).max())
    np.testing.assert_allclose(ck.ntk, k.ntk, rtol=0, atol=1e-12 * np.abs(k.ntk).max())
    np.testing.assert_allclose(ck.angles, 2 * np.pi * np.arange(n) / n)


def test_circle_depth_one_relu_is_arc_cosine_kernel():
    """He-initialised ReLU on the unit circle: K¹(Δ) = (sin Δ + (π − Δ) cos Δ)/π for Δ ∈ [0, π]."""
    ck = circle_kernels("relu", 64, 1, 2.0, 0.0)
    delta = np.minimum(ck.angles, 2 * np.pi - ck.angles)
    np.testing.assert_allclose(ck.nngp_row, (np.sin(delta) + (np.pi - delta) * np.cos(delta)) / np.pi, atol=1e-13)


def test_single_circle_point_and_deep_ordered_limit():
    """One point has only a diagonal; deep in the ordered phase every entry tends to q* (c* = 1)."""
    one = circle_kernels("tanh", 1, 3, 1.5, 0.1)
    assert one.nngp.shape == (1, 1) and one.ntk.shape == (1, 1)
    r = sp.point("erf", 1.0, 0.5)
    assert r.phase == "ordered"
    ck = circle_kernels("erf", 32, 200, 1.0, 0.5)
    np.testing.assert_allclose(ck.nngp_row, r.q_star, rtol=1e-9)


def test_segment_is_the_general_path_on_interpolated_inputs():
    """x(t) = (1 − t)x_a + t x_b; the end points' variances are those of x_a and x_b alone."""
    xa, xb = np.array([1.0, -0.5, 0.2]), np.array([-0.3, 0.8, 1.1])
    seg = segment_kernels("tanh", xa, xb, 9, 3, 2.0, 0.1)
    np.testing.assert_allclose(seg.inputs[4], 0.5 * (xa + xb))
    k = kernels("tanh", seg.inputs, 3, 2.0, 0.1)
    np.testing.assert_array_equal(seg.nngp, k.nngp)
    ends = kernels("tanh", np.stack([xa, xb]), 3, 2.0, 0.1)
    np.testing.assert_allclose(seg.nngp[np.ix_([0, 8], [0, 8])], ends.nngp, rtol=1e-13)
    np.testing.assert_allclose(seg.ntk[np.ix_([0, 8], [0, 8])], ends.ntk, rtol=1e-13)


def test_large_variance_gets_an_accuracy_note():
    """Smooth φ at K(x, x) > 4·n/256 get the same quadrature warning as ``point``; kinked φ never do."""
    big = np.array([[3.0, 0.0], [0.0, 3.5]])  # K⁰(x, x) = 1.5·9/2 = 6.75 > 4
    assert "hermite_degree=600" in kernels("tanh", big, 1, 1.5, 0.0).note
    assert kernels("tanh", big, 1, 1.5, 0.0, quadrature=sp.Quadrature(hermite_degree=600)).note == ""
    assert kernels("relu", big, 1, 1.5, 0.0).note == ""
    assert kernels("tanh", X_SMALL, 2, 1.5, 0.1).note == ""
    assert "hermite_degree" in circle_kernels("tanh", 4, 1, 1.5, 0.0, radius=3.0).note


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.array([[1.0, np.nan]])}, "finite"),
        ({"X": np.ones(3)}, "2-D"),
        ({"X": np.ones((0, 2))}, "2-D"),
        ({"depth": -1}, "depth"),
        ({"depth": 2.0}, "depth"),
        ({"depth": True}, "depth"),
        ({"sigma_w2": 0.0}, "σ_w²"),
        ({"sigma_b2": -0.1}, "σ_b²"),
        ({"dropout": 1.5}, "ρ"),
        ({"X2": np.ones((2, 3))}, "same dimension"),
        ({"phi": "nope"}, "unknown"),
    ],
)
def test_bad_input_raises_one_line_errors(kwargs, match):
    """Invalid inputs raise SigpropError subclasses with a clear message."""
    args = {"phi": "tanh", "X": np.ones((3, 2)), "depth": 2, "sigma_w2": 1.0, "sigma_b2": 0.1} | kwargs
    with pytest.raises(sp.SigpropError, match=match):
        kernels(**args)


def test_circle_and_segment_argument_errors():
    with pytest.raises(sp.InvalidParameterError, match="n_points"):
        circle_kernels("tanh", 0, 2, 1.0, 0.1)
    with pytest.raises(sp.InvalidParameterError, match="radius"):
        circle_kernels("tanh", 8, 2, 1.0, 0.1, radius=-1.0)
    with pytest.raises(sp.InvalidParameterError, match="same length"):
        segment_kernels("tanh", [1.0, 0.0], [1.0, 0.0, 0.0], 5, 2, 1.0, 0.1)
    with pytest.raises(sp.InvalidParameterError, match="n_points"):
        segment_kernels("tanh", [1.0], [2.0], 1, 2, 1.0, 0.1)


def test_overflowing_kernel_is_an_error_not_inf():
    """Linear φ with σ_w² = 4 multiplies K by 4 per layer: after 600 layers float64 overflows."""
    with pytest.raises(sp.LengthMapDivergesError, match="overflowed"):
        kernels("linear", np.eye(2), 600, 4.0, 0.0)


DUPLICATED = np.array([[0.3, -1.2, 0.8, 0.1, 2.0], [0.3, -1.2, 0.8, 0.1, 2.0], [0.9, -3.6, 2.4, 0.3, 6.0]])


@pytest.mark.parametrize("phi", ["relu", "hard_tanh", "elu", "abs(x - 0.5)"])
@pytest.mark.parametrize("depth", [1, 30])
def test_ntk_of_a_duplicated_input_equals_its_diagonal_for_every_kinked_phi(phi, depth):
    """Without dropout the network is a function of its input: Θ(x, x) = Θ(x, x') when x' = x, to the bit
    (arccos of a c one ulp below 1 used to cost 2e-8 at depth 30 for ReLU, 4e-6 for hard tanh)."""
    k = kernels(phi, DUPLICATED, depth, 2.0, 0.1)
    assert k.ntk[0, 1] == k.ntk[0, 0] and k.nngp[0, 1] == k.nngp[0, 0]
    cross = kernels(phi, DUPLICATED[:1], depth, 2.0, 0.1, X2=DUPLICATED)
    assert cross.ntk[0, 0] == cross.ntk[0, 1] == k.ntk[0, 0]


def test_relu_ntk_of_parallel_inputs_is_homogeneous_at_depth_30():
    """ReLU with σ_b² = 0 is positively homogeneous, so Θ(x, 3x) = 3 Θ(x, x) at any depth (c stays 1)."""
    k = kernels("relu", DUPLICATED, 30, 2.0, 0.0)
    assert k.ntk[0, 2] == pytest.approx(3.0 * k.ntk[0, 0], rel=1e-13)
    assert k.ntk[2, 2] == pytest.approx(9.0 * k.ntk[0, 0], rel=1e-13)


def test_with_dropout_two_copies_of_an_input_are_a_genuine_pair():
    """Independent dropout masks decorrelate copies: Θ(x, x') < Θ(x, x) for x' = x when ρ < 1."""
    k = kernels("relu", DUPLICATED, 3, 2.0, 0.1, dropout=0.9)
    assert np.isfinite(k.ntk).all() and k.ntk[0, 1] < k.ntk[0, 0]
