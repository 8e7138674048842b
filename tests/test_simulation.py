"""Finite-width simulations against the mean-field theory, the two engines against each other, and bad input.

Statistical tolerances. A simulated mean over S seeds differs from the mean-field value by its
sampling error (standard error se over seeds) plus the finite-width bias, which is O(1/N) relative
(Yaida 2020; Roberts, Yaida & Hanin 2022: the kernel's mean gets O(1/n) corrections). Measured with
S = 2048 seeds at N = 2048, |mean − theory|·N ≤ 4 (relative, q) and ≤ 4 (absolute, c) for every case
below, so the tests allow 4 se + ALLOWANCE/N with ALLOWANCE = 10: 0.5 % at N = 2048, while an error in
the maps (a missing 1/ρ, a mis-scaled σ_b²) moves q or c by several per cent. Seeds are fixed, so the
tests are deterministic; 4 se keeps a correct implementation passing for any seed with probability
> 0.999 per comparison.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import sigprop as sp
from sigprop import simulation as sim
from sigprop.simulation import simulate

N = 2048
ALLOWANCE = 10.0
"""Finite-width bias allowance, in units of 1/N (relative for q, absolute for c); see the module docstring."""

# (φ, σ_w², σ_b², phase). tanh and erf: one point in each phase. ReLU has no chaotic phase with a
# finite q* (σ_w² > 2 diverges), so it is tested in the ordered phase (σ_w² = 1.5, σ_b² = 0.1: q* = 0.4,
# c* = 1) and at He initialisation (σ_w² = 2, σ_b² = 0), the critical point, where q is preserved
# and c → 1 only polynomially — the closest ReLU gets to the chaotic side.
CASES = [
    ("tanh", 1.2, 0.05, "ordered"),
    ("tanh", 2.5, 0.1, "chaotic"),
    ("erf", 1.0, 0.05, "ordered"),
    ("erf", 3.0, 0.1, "chaotic"),
    ("relu", 1.5, 0.1, "ordered"),
    ("relu", 2.0, 0.0, "critical"),
]


def within(sim_mean, se, theory, width, relative):
    """|mean − theory| ≤ 4 se + ALLOWANCE/N (×|theory| when relative)."""
    scale = np.abs(theory) if relative else 1.0
    return np.abs(sim_mean - theory) <= 4 * se + ALLOWANCE / width * scale


@pytest.mark.parametrize(("phi", "sw2", "sb2", "phase"), CASES)
def test_lengths_and_correlations_follow_the_mean_field_maps(phi, sw2, sb2, phase):
    """At N = 2048 the simulated q^l and c^l (l ≤ 20) are the mean-field trajectories within 4 se + 10/N."""
    assert sp.point(phi, sw2, sb2).phase == phase
    r = simulate(phi, sw2, sb2, width=N, depth=20, seeds=256, seed=1)
    t = sp.trajectories(phi, sw2, sb2, depth=20, q0=1.0, c0=0.5)
    np.testing.assert_allclose(r.theory.q[:, 0], t.q, rtol=1e-12)
    np.testing.assert_allclose(r.theory.c[:, 0], t.c, rtol=1e-12)
    assert np.all(within(r.q_mean, r.q_se, r.theory.q, N, relative=True))
    assert np.all(within(r.c_mean, r.c_se, r.theory.c, N, relative=False))
    # the comparison has power: the trajectories move by far more than the tolerance
    assert np.ptp(r.theory.c) > 5 * (4 * r.c_se.max() + ALLOWANCE / N) or phi == "relu"


def test_inputs_have_exactly_the_requested_length_and_correlation():
    """Generated inputs: empirical q⁰ = ‖x‖²/N and c⁰ equal the request to rounding, for every seed."""
    r = simulate("tanh", 2.0, 0.1, width=64, depth=1, seeds=16, q0=0.7, c0=-0.2, n_inputs=4)
    np.testing.assert_allclose(r.q[:, 0], 0.7, rtol=1e-12)
    np.testing.assert_allclose(r.c[:, 0], -0.2, atol=1e-12)
    assert r.pairs == ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
    assert r.q.shape == (16, 2, 4) and r.c.shape == (16, 2, 6)


@pytest.mark.parametrize("c0", [0.5, 1.0, -1.0 / 7])
def test_orthonormal_inputs_have_the_exact_gram_matrix(c0):
    """x = G (√N A R⁻¹)ᵀ: xᵀx/N = K⁰ to rounding at N = 4096, m = 8, also for singular K⁰ (c0 = 1, −1/(m − 1))."""
    gram0 = sim._target_gram(0.7, c0, 8, 4096)
    keys = jax.random.split(jax.random.key(4), 3)
    xs = np.asarray(jax.jit(jax.vmap(lambda k: sim.orthonormal_inputs(k, 4096, jnp.asarray(gram0))))(keys))
    assert xs.shape == (3, 4096, 8) and np.all(np.isfinite(xs))
    for x in xs:
        np.testing.assert_allclose(x.T @ x / 4096, gram0, rtol=0, atol=1e-12)
    assert not np.allclose(xs[0], xs[1])  # each key its own orientation


def test_given_inputs_set_the_theory_pairwise():
    """Fixed inputs of another width: the theory starts from their empirical q⁰_a, c⁰_ab, pair by pair."""
    x = np.random.default_rng(0).normal(size=(3, 300)) * np.array([[1.0], [0.5], [2.0]])
    r = simulate("erf", 2.0, 0.1, width=128, depth=5, seeds=4, inputs=x)
    assert r.input_width == 300 and list(r.widths) == [300, 128, 128, 128, 128, 128]
    q0 = np.sum(x * x, axis=1) / 300
    np.testing.assert_allclose(r.q[:, 0], np.broadcast_to(q0, (4, 3)), rtol=1e-12)
    t = sp.trajectories("erf", 2.0, 0.1, 5, q0=q0[1], q0_b=q0[2], c0=x[1] @ x[2] / 300 / np.sqrt(q0[1] * q0[2]))
    np.testing.assert_allclose(r.theory.q[:, 1], t.q_a, rtol=1e-12)
    np.testing.assert_allclose(r.theory.q[:, 2], t.q_b, rtol=1e-12)
    np.testing.assert_allclose(r.theory.c[:, 2], t.c, rtol=1e-12)  # pair (1, 2)


@pytest.mark.parametrize(("phi", "sw2", "sb2", "rho"), [("tanh", 2.5, 0.1, 0.9), ("relu", 1.8, 0.2, 1.0)])
def test_dense_and_gram_engines_agree_in_distribution(phi, sw2, sb2, rho):
    """Real weight matrices and the exact Gram sampler give the same law of (q^l, c^l, ‖δz^l‖²).

    At N = 128 finite-width effects are large, so this checks the whole distribution, not just the
    mean-field limit: means agree within 4 combined se, spreads (standard deviations over seeds) within
    4 se, and two-sample Kolmogorov–Smirnov tests on the last layer do not reject (p > 1e-3).
    """
    kw = dict(width=128, depth=8, seeds=400, dropout=rho, jacobian=True)
    dense = simulate(phi, sw2, sb2, engine="dense", seed=2, **kw)
    gram = simulate(phi, sw2, sb2, engine="gram", seed=3, **kw)
    for name in ("q", "c", "jacobian"):
        a, b = getattr(dense, name), getattr(gram, name)
        se = np.hypot(a.std(axis=0, ddof=1), b.std(axis=0, ddof=1)) / np.sqrt(a.shape[0])
        assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= 4 * se + 1e-12), name
        for k in range(a.shape[-1]):
            assert stats.ks_2samp(a[:, -1, k], b[:, -1, k]).pvalue > 1e-3, (name, k)
        # spreads: se of log(sd) is √((kurtosis − 1)/4S) for any law (1/√2S for a Gaussian)
        log_spread = np.log(a[:, -1].std(axis=0) / b[:, -1].std(axis=0))
        se_log = np.sqrt(sum((stats.kurtosis(x[:, -1], fisher=False) - 1) / (4 * x.shape[0]) for x in (a, b)))
        assert np.all(np.abs(log_spread) < 4 * se_log), name


def test_dense_engine_matches_the_mean_field_at_n_2048():
    """Real 2048 × 2048 weights (few seeds and layers: O(N²) per layer) reproduce q^l and c^l."""
    r = simulate("tanh", 2.5, 0.1, width=N, depth=6, seeds=6, engine="dense", seed=4)
    assert np.all(within(r.q_mean, r.q_se, r.theory.q, N, relative=True))
    assert np.all(within(r.c_mean, r.c_se, r.theory.c, N, relative=False))


def test_dropout_correlation_approaches_c_star_below_one():
    """With ρ = 0.9 the deep correlation settles at the theory's c* < 1 (independent masks decorrelate)."""
    rho = 0.9
    p = sp.point("tanh", 1.2, 0.05, dropout=rho)
    assert p.c_star < 0.95
    r = simulate("tanh", 1.2, 0.05, width=N, depth=40, seeds=128, dropout=rho, c0=0.9, seed=5)
    assert abs(r.theory.c[-1, 0] - p.c_star) < 1e-4  # the trajectory has converged by l = 40
    tail = slice(-5, None)
    assert np.all(within(r.c_mean[tail, 0], r.c_se[tail, 0], p.c_star, N, relative=False))
    assert np.all(r.c_hi[tail, 0] < 0.99)  # not merely on average: each network decorrelates


@pytest.mark.parametrize(("phi", "sw2", "sb2", "rho"), [("tanh", 2.5, 0.1, 1.0), ("relu", 2.0, 0.0, 0.9)])
def test_jacobian_norm_grows_as_the_product_of_chi(phi, sw2, sb2, rho):
    """‖δz^l‖²/‖δz⁰‖² from jax.jvp through real weights grows as Π_{k<l} χ(q^k), χ = σ_w²/ρ E[φ'²].

    The ratio's mean has a finite-width bias O(l/N): measured with 4096 seeds at N = 512 it is within
    noise of 0 and below 1·l/N for tanh, erf and ReLU, so the allowance is 2 l/N relative (4 % at l = 10).
    """
    depth, width = 10, 512
    r = simulate(phi, sw2, sb2, width=width, depth=depth, seeds=24, engine="dense", dropout=rho, jacobian=True, seed=6)
    theory = r.theory.jacobian
    assert theory[-1, 0] > 2.0 or theory[-1, 0] < 0.5  # the product is far from 1: a real test
    allowance = 2.0 * r.layers[:, None] / width * theory
    assert np.all(np.abs(r.jacobian_mean - theory) <= 4 * r.jacobian_se + allowance)
    if phi == "relu":  # He with dropout: χ = σ_w²/(2ρ) at every layer
        np.testing.assert_allclose(theory[:, 0], (sw2 / (2 * rho)) ** r.layers, rtol=1e-12)


def test_sigma_and_dropout_are_traced_not_recompiled():
    """New σ_w², σ_b², ρ reuse the compiled simulation (they are traced arguments)."""
    kw = dict(width=64, depth=3, seeds=4, n_inputs=3)
    simulate("tanh", 1.0, 0.1, dropout=0.8, **kw)
    run = sim._compiled(sp.nonlinearity("tanh"), "gram", 64, 3, 3, 4, 4, False, True)
    before = run._cache_size()
    simulate("tanh", 2.0, 0.3, dropout=0.5, **kw)
    simulate("tanh", 3.0, 0.0, dropout=1.0, **kw)
    assert run._cache_size() == before == 1


def test_memory_chunks_do_not_change_the_networks():
    """Seeds run in chunks (lax.map) when memory asks: seed s is the same network either way."""
    phi, gram0 = sp.nonlinearity("tanh"), jnp.asarray(0.5 * np.eye(2) + 0.5)
    whole = sim._compiled(phi, "dense", 32, 4, 2, 6, 6, True, True)(jax.random.key(1), gram0, 2.0, 0.1, 0.9)
    chunked = sim._compiled(phi, "dense", 32, 4, 2, 6, 4, True, True)(jax.random.key(1), gram0, 2.0, 0.1, 0.9)
    for name in ("q", "c", "m4", "dz2"):
        np.testing.assert_allclose(whole[name], chunked[name], rtol=1e-12, err_msg=name)


def test_gram_engine_with_an_odd_width_and_its_two_blocks():
    """Odd N: ⌈N/2⌉ Box–Muller pairs, the last sine dropped; q⁰ exact, q¹ of a linear layer near σ_w² q⁰ + σ_b²."""
    r = simulate("linear", 1.5, 0.2, width=33, depth=3, seeds=400, q0=0.8, n_inputs=3, jacobian=True, seed=2)
    np.testing.assert_allclose(r.q[:, 0], 0.8, rtol=1e-12)
    assert np.all(np.isfinite(r.q)) and np.all(np.isfinite(r.c)) and np.all(np.isfinite(r.jacobian))
    assert np.all(within(r.q_mean, r.q_se, r.theory.q, 33, relative=True))
    # the same seed is the same network
    again = simulate("linear", 1.5, 0.2, width=33, depth=3, seeds=400, q0=0.8, n_inputs=3, jacobian=True, seed=2)
    np.testing.assert_array_equal(r.q, again.q)


def test_to_dict_is_strict_json_with_the_documented_layout():
    """Default two inputs: q_* are [layer][input], c_* are per-layer floats for the single pair."""
    r = simulate("relu", 2.0, 0.0, width=32, depth=4, seeds=1)  # one seed: se undefined -> null
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert {"layers", "q_mean", "q_se", "c_mean", "c_se", "q_theory", "c_theory"} <= set(d)
    assert d["layers"] == [0, 1, 2, 3, 4]
    assert np.shape(d["q_mean"]) == (5, 2) and np.shape(d["c_mean"]) == (5,)
    np.testing.assert_allclose(d["q_theory"], r.theory.q)
    np.testing.assert_allclose(d["c_mean"], r.c_mean[:, 0])
    assert d["q_se"][0] == [None, None]
    many = simulate("tanh", 2.0, 0.1, width=32, depth=2, seeds=3, n_inputs=3, jacobian=True).to_dict()
    json.dumps(many, allow_nan=False)
    assert np.shape(many["c_mean"]) == (3, 3) and np.shape(many["jacobian_theory"]) == (3, 3)


def test_summary_statistics_are_over_seeds():
    """q_mean/q_se/q_lo/q_hi are the mean, standard error and 5 %/95 % quantiles over seeds."""
    r = simulate("tanh", 2.5, 0.1, width=64, depth=3, seeds=50, seed=9)
    np.testing.assert_allclose(r.q_se, r.q.std(axis=0, ddof=1) / np.sqrt(50))
    assert np.all(r.q_lo <= r.q_mean) and np.all(r.q_mean <= r.q_hi)
    assert np.all(r.c_lo[1:] < r.c_hi[1:])


def test_sampler_is_standard_normal():
    """The Box–Muller sampler: mean 0, variance 1, E z⁴ = 3 within 4 se over 2²¹ draws; KS does not reject."""
    z = np.asarray(sim.standard_normal(jax.random.key(0), (2**21,)))
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(np.mean(z**4) - 3) < 4 * np.sqrt(96 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    pairs = z[: n // 2 * 2].reshape(2, -1)
    assert abs(np.corrcoef(pairs)[0, 1]) < 4 / np.sqrt(n / 2)


def test_covariance_factor_handles_singular_and_zero_covariances():
    """A Aᵀ = Σ for a rank-one Σ (identical inputs) and for Σ = 0 (a dead ReLU network)."""
    v = jnp.array([1.0, 2.0, -1.0])
    for sigma in (jnp.outer(v, v), jnp.zeros((3, 3)), jnp.diag(jnp.array([1.0, 0.0, 4.0]))):
        a = sim.covariance_factor(sigma)
        assert np.all(np.isfinite(np.asarray(a)))
        np.testing.assert_allclose(a @ a.T, sigma, atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(width=0), "width"),
        (dict(width=2**20 + 1), "width"),
        (dict(width=8193, engine="dense"), "width"),
        (dict(width=64.0), "width"),
        (dict(depth=0), "depth"),
        (dict(depth=10_001), "depth"),
        (dict(seeds=True), "seeds"),
        (dict(seeds=10**5), "seeds"),
        (dict(engine="sparse"), "engine"),
        (dict(dropout=0.0), "dropout"),
        (dict(sigma_w2=-1.0), "σ_w²"),
        (dict(c0=1.5), "c0"),
        (dict(c0=-0.6, n_inputs=3), "c0"),
        (dict(q0=0.0), "q0"),
        (dict(n_inputs=65), "n_inputs"),
        (dict(width=2, n_inputs=3), "too small"),
        (dict(inputs=[[1.0, np.nan]]), "finite"),
        (dict(inputs=[[0.0, 0.0]]), "non-zero"),
        (dict(inputs=[[1.0, 2.0]], q0=2.0), "either"),
        (dict(seeds=10_000, depth=10_000), "GiB"),
        (dict(seed="zero"), "seed"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, match):
    """Every out-of-domain argument is an InvalidParameterError naming the culprit."""
    args = dict(phi="tanh", sigma_w2=2.0, sigma_b2=0.1, width=64, depth=3, seeds=2) | kwargs
    with pytest.raises(sp.InvalidParameterError, match=match):
        simulate(**args)


def test_unknown_nonlinearity_and_custom_expressions():
    """Names go through the registry: unknown ones raise, expressions in x simulate like the built-in."""
    with pytest.raises(sp.UnknownNonlinearityError):
        simulate("tanhh", 2.0, 0.1, width=16, depth=2, seeds=2)
    a = simulate("tanh", 2.0, 0.1, width=16, depth=2, seeds=2, seed=1)
    b = simulate("2*sigmoid(2*x) - 1", 2.0, 0.1, width=16, depth=2, seeds=2, seed=1)
    np.testing.assert_allclose(a.q, b.q, rtol=1e-12)
    np.testing.assert_allclose(a.theory.q, b.theory.q, rtol=1e-10)
