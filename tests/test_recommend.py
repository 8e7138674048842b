"""Recommendations: critical point, trainable depth and σ_w² window, Jacobian spectrum and isometry,
code snippets. Each test states the physical fact it checks and compares against an independent
reference: adaptive quadrature, closed forms, or the spectra of finite random networks."""

import ast
import contextlib
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from reference import integrals as ref
from scipy import integrate, special

import sigprop as sp
from sigprop.errors import InvalidParameterError, NoCriticalPointError, UnknownNonlinearityError
from sigprop.nonlinearities import SELU_ALPHA
from sigprop.recommend import (
    DEPTH_FACTOR,
    ISOMETRY_SPREAD,
    default_sigma_b2,
    derivative_moments,
    format_recommendation,
    isometric_sigma_b2,
    isometry_table,
    jacobian_spectrum,
    jax_snippet,
    recommend,
    torch_snippet,
    trainable_range,
)

# ---------------------------------------------------------------- μ₁ = E[φ'²], μ₂ = E[φ'⁴]


def _mu_quad(dphi, q, k):
    """E[φ'(√q z)^{2k}] by adaptive quadrature (QUADPACK), independent of the package's rules."""
    f = lambda z: dphi(math.sqrt(q) * z) ** (2 * k) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    return integrate.quad(f, -40, 40, points=[0.0], epsabs=1e-15, epsrel=1e-13, limit=200)[0]


@pytest.mark.parametrize("q", [0.0, 1e-3, 0.1, 0.5700478816407112, 2.0, 5.0, 45.0])
def test_tanh_and_sigmoid_moments_match_adaptive_quadrature(q):
    """μ₁ = E[sech⁴(√q z)] and μ₂ = E[sech⁸(√q z)] for tanh, and the same for the logistic sigmoid
    (φ' = sech²(x/2)/4), whose critical q* at σ_b² = 0.05 is ≈ 46 (Pennington et al. 2017, §2.2)."""

    def sech2(x):
        return 1.0 / math.cosh(min(abs(x), 300.0)) ** 2

    for name, dphi in (("tanh", sech2), ("sigmoid", lambda x: 0.25 * sech2(0.5 * x))):
        mu1, mu2 = derivative_moments(name, q)
        assert mu1 == pytest.approx(_mu_quad(dphi, q, 1), rel=1e-13)
        assert mu2 == pytest.approx(_mu_quad(dphi, q, 2), rel=1e-13)


@pytest.mark.parametrize("q", [1e-8, 1.0, 100.0])
def test_closed_forms_relu_leaky_linear_hard_tanh(q):
    """ReLU: φ'² = 1{x>0}, so μ₁ = μ₂ = ½ and μ₂/μ₁² = 2 at every q; leaky ReLU: (1+α²)/2, (1+α⁴)/2;
    linear: 1, 1; hard-tanh: φ'² = 1{|x|<1}, μ₁ = μ₂ = P(|√q z| < 1) = erf(1/√(2q))."""
    assert derivative_moments("relu", q) == pytest.approx((0.5, 0.5), rel=1e-13)
    a = 0.1
    leaky = sp.nonlinearity("leaky_relu", alpha=a)
    assert derivative_moments(leaky, q) == pytest.approx(((1 + a**2) / 2, (1 + a**4) / 2), rel=1e-13)
    assert derivative_moments("linear", q) == pytest.approx((1.0, 1.0), rel=1e-13)
    p = special.erf(1 / math.sqrt(2 * q))
    assert derivative_moments("hard_tanh", q) == pytest.approx((p, p), rel=1e-12, abs=1e-300)


def test_mu1_is_chi_1_over_sigma_w2():
    """χ₁ = σ_w² μ₁ at q* (Poole et al. 2016, eq. 7): the moments agree with the core's G(q*)."""
    r = sp.point("erf", 1.9, 0.2)
    mu1, _ = derivative_moments("erf", r.q_star)
    assert 1.9 * mu1 == pytest.approx(r.chi_1, rel=1e-14)


def test_vectorised_moments():
    qs = np.array([0.1, 1.0, 3.0])
    mu1, mu2 = derivative_moments("gelu", qs)
    assert mu1.shape == mu2.shape == (3,)
    assert mu1[1] == pytest.approx(derivative_moments("gelu", 1.0)[0], rel=1e-15)


# ---------------------------------------------------------------- Jacobian spectrum


def _finite_jacobian_spectrum(phi, dphi, sw2, sb2, q, depth, width, orthogonal, rho, seeds, rng):
    """Relative variance σ²/m₁² of the squared singular values of J = Π_l W_l D_l M_l/ρ for finite
    random networks started at h⁰ ~ N(0, q*) (numpy; m₁ of each network divides out its overall
    log-normal scale). Averaged over ``seeds`` networks."""
    rel = []
    for _ in range(seeds):
        h = rng.standard_normal(width) * math.sqrt(q)
        J = np.eye(width)
        for _ in range(depth):
            mask = (rng.random(width) < rho) / rho
            if orthogonal:
                Q, R = np.linalg.qr(rng.standard_normal((width, width)))
                W = math.sqrt(sw2) * Q * np.sign(np.diag(R))
            else:
                W = rng.standard_normal((width, width)) * math.sqrt(sw2 / width)
            J = W @ ((dphi(h) * mask)[:, None] * J)
            h = W @ (phi(h) * mask) + rng.standard_normal(width) * math.sqrt(sb2)
        lam = np.linalg.svd(J, compute_uv=False) ** 2
        rel.append(lam.var() / lam.mean() ** 2)
    return float(np.mean(rel))


def _one_blas_thread():
    """One BLAS thread (threadpoolctl, when installed): on a small shared machine more threads make
    these 500×500 QRs and SVDs several times slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _tanh(x):
    return np.tanh(x)


def _dtanh(x):
    return 1.0 / np.cosh(np.minimum(np.abs(x), 300.0)) ** 2


def _relu(x):
    return np.maximum(x, 0.0)


def _drelu(x):
    return (x > 0).astype(float)


@pytest.mark.parametrize(
    ("name", "phi", "dphi", "sb2", "rho"),
    [
        ("tanh", _tanh, _dtanh, 0.05, 1.0),
        ("relu", _relu, _drelu, 0.0, 1.0),
        ("tanh", _tanh, _dtanh, 0.05, 0.8),
    ],
)
@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
def test_jacobian_spread_matches_finite_networks(name, phi, dphi, sb2, rho, weights):
    """σ²_JJᵀ/m₁² = L(μ₂/(ρμ₁²) − 1 − s₁), s₁ = −1 (Gaussian) or 0 (orthogonal) (Pennington, Schoenholz
    & Ganguli 2017; ρ < 1 is our dropout extension), against the singular values of 8-layer networks
    of width 500 (finite-width error measured ≲ 3 %; tolerance 10 %)."""
    rec = recommend(name, 8, rho, sb2)
    q = rec.q_star if rec.q_star > 0 else 1.0  # ReLU at (2, 0): every q is a fixed point
    rng = np.random.default_rng(7)
    with _one_blas_thread():
        got = _finite_jacobian_spectrum(phi, dphi, rec.sigma_w2, sb2, q, 8, 500, weights == "orthogonal", rho, 2, rng)
    assert got == pytest.approx(rec.jacobian[weights].relative_variance, rel=0.10)


def test_jacobian_spectrum_closed_forms():
    """m₁ = (σ_w²μ₁/ρ)^L; linear orthogonal networks are exactly isometric (σ² = 0); Gaussian linear
    networks have σ²/m₁² = L (Fuss–Catalan); the Gaussian spread exceeds the orthogonal one by L."""
    assert jacobian_spectrum(1.0, 1.0, 1.0, 50, "orthogonal") == (1.0, 0.0, 0.0)
    assert jacobian_spectrum(1.0, 1.0, 1.0, 50, "gaussian").relative_variance == 50.0
    s = jacobian_spectrum(0.4, 0.3, 2.0, 10, "orthogonal", dropout=0.5)
    assert s.mean == pytest.approx(1.6**10, rel=1e-13)
    assert s.relative_variance == pytest.approx(10 * (0.3 / (0.5 * 0.16) - 1), rel=1e-13)
    g = jacobian_spectrum(0.4, 0.3, 2.0, 10, "gaussian", dropout=0.5)
    assert g.relative_variance - s.relative_variance == pytest.approx(10.0, rel=1e-13)
    assert math.isinf(jacobian_spectrum(0.5, 0.5, 4.0, 10**6, "gaussian").mean)


# ---------------------------------------------------------------- isometry


def test_which_registry_nonlinearities_reach_isometry():
    """μ₂/μ₁² at the σ_b² → 0 end of the critical line: 1 for φ smooth at 0 with φ(0) = 0, φ'(0) ≠ 0 and
    for hard-tanh; 2 for ReLU; 2(1+a⁴)/(1+a²)² for leaky ReLU and SELU (φ'(0⁻) = a φ'(0⁺)); ≈ 4.4 for
    sigmoid, whose critical line at σ_b² = 0 has q* ≈ 46 (Pennington et al. 2017: tanh can, ReLU cannot)."""
    table = isometry_table()
    reach = {name for name, r in table.items() if r is not None and abs(r - 1) < 1e-6}
    assert reach == {"elu", "erf", "gelu", "hard_tanh", "linear", "silu", "sin", "tanh"}
    assert table["relu"] == pytest.approx(2.0, rel=1e-13)
    a = 0.01
    assert table["leaky_relu"] == pytest.approx(2 * (1 + a**4) / (1 + a**2) ** 2, rel=1e-12)
    a = SELU_ALPHA
    assert table["selu"] == pytest.approx(2 * (1 + a**4) / (1 + a**2) ** 2, rel=1e-12)
    assert table["sigmoid"] > 4.0


def test_tanh_isometry_improves_as_sigma_b2_falls():
    """Along the tanh critical line μ₂/μ₁² falls towards 1 as σ_b² (hence q* ~ √σ_b²) → 0."""
    ratios = []
    for sb2 in (0.2, 0.05, 0.01, 1e-3, 1e-5, 1e-9):
        mu1, mu2 = derivative_moments("tanh", sp.critical_point("tanh", sb2).q_star)
        ratios.append(mu2 / mu1**2)
    assert np.all(np.diff(ratios) < 0) and ratios[-1] - 1 < 1e-3


@pytest.mark.parametrize("depth", [10, 100, 1000])
def test_isometric_sigma_b2_is_where_the_orthogonal_spread_is_one(depth):
    """At the returned σ_b² the critical point (found by the other route, σ_b² → q*) has
    L(μ₂/μ₁² − 1) = 1; the deeper the network, the smaller σ_b² must be."""
    sb2 = isometric_sigma_b2("tanh", depth)
    mu1, mu2 = derivative_moments("tanh", sp.critical_point("tanh", sb2).q_star)
    assert depth * (mu2 / mu1**2 - 1) == pytest.approx(ISOMETRY_SPREAD, rel=1e-7)
    assert isometric_sigma_b2("tanh", 10 * depth) < sb2
    assert isometric_sigma_b2("relu", depth) is None


# ---------------------------------------------------------------- trainable depth and σ_w² window


@pytest.mark.parametrize("depth", [10, 50, 1000])
def test_relu_window_closed_form(depth):
    """ReLU at σ_b² = 0 below σ_w² = 2: q* = 0, c* = 1 and χ_c = χ₁ = σ_w²/2, so 6ξ_c = L at
    σ_w² = 2 e^{−6/L}; above 2 the length map diverges, so the window ends at 2."""
    lo, hi = trainable_range("relu", 0.0, depth)
    assert lo == pytest.approx(2 * math.exp(-DEPTH_FACTOR / depth), rel=1e-10)
    assert hi == 2.0


def test_tanh_window_edges_have_six_xi_c_equal_depth():
    """At both edges 6 ξ_c = L. Ordered edge: χ_c = χ₁ = σ_w² E[φ'(√q* z)²]; chaotic edge:
    χ_c = σ_w² E[φ'(u₁)φ'(u₂)] at c*; both from the independent QUADPACK references."""
    L = 100
    lo, hi = trainable_range("tanh", 0.05, L)
    assert lo < sp.critical_point("tanh", 0.05).sigma_w2 < hi
    q = ref.q_star_quad("tanh", lo, 0.05)
    assert -1 / math.log(lo * ref.G_quad("tanh", q)) == pytest.approx(L / 6, rel=1e-6)
    q = ref.q_star_quad("tanh", hi, 0.05)
    c, _ = ref.c_star_quad("tanh", q, hi, 0.05)
    chi_c = hi * ref.Kc_quad("tanh", q, q, c)
    assert -1 / math.log(chi_c) == pytest.approx(L / 6, rel=1e-5)


def test_window_narrows_with_depth_and_dropout_limits_depth():
    """The window shrinks with L (ξ_c ≈ 1/|χ − 1| near criticality). With dropout ξ_c is finite
    everywhere (Schoenholz et al. 2017, §5): tanh at ρ = 0.9 trains to 6 ξ_c ≈ 28 layers, so depth 20
    has a window around the ξ_c-maximising σ_w² and depth 100 has none."""
    w100 = trainable_range("tanh", 0.05, 100)
    w1000 = trainable_range("tanh", 0.05, 1000)
    assert w100[0] < w1000[0] < w1000[1] < w100[1]
    best = sp.critical_point("tanh", 0.05, 0.9)
    assert 27 < 6 * best.xi_c < 29
    assert trainable_range("tanh", 0.05, 100, 0.9) is None
    lo, hi = trainable_range("tanh", 0.05, 20, 0.9)
    assert lo < best.sigma_w2 < hi
    for w in (lo, hi):
        assert 6 * sp.point("tanh", w, 0.05, 0.9).xi_c == pytest.approx(20, rel=1e-7)


# ---------------------------------------------------------------- the recommendation


JSON_KEYS = {
    "phi", "depth", "dropout", "sigma_w2", "sigma_b2", "sigma_b2_is_default", "criterion", "q_star", "chi_1",
    "chi_c", "xi_c", "xi_q", "depth_factor", "max_depth", "trainable", "sigma_w2_range", "mu1", "mu2",
    "isometry_ratio", "isometry_limit", "isometry_reachable", "isometry_sigma_b2", "jacobian", "weights",
    "advice", "note", "snippets",
}  # fmt: skip


def _strict_json(d):
    def no_constants(name):
        raise AssertionError(f"invalid JSON token {name}")

    return json.loads(json.dumps(d, allow_nan=False), parse_constant=no_constants)


def test_tanh_at_criticality_is_unbounded_and_json_valid():
    """On the critical line χ_c = 1, ξ_c = ∞: max depth is unbounded by the 6ξ_c criterion and is
    reported as JSON null (never Infinity); σ_w² is sigprop's critical σ_w² at the default σ_b² = 0.05."""
    rec = recommend("tanh", 100)
    assert rec.sigma_b2 == default_sigma_b2("tanh") == 0.05 and rec.sigma_b2_is_default
    assert rec.sigma_w2 == sp.critical_point("tanh", 0.05).sigma_w2
    assert math.isinf(rec.xi_c) and math.isinf(rec.max_depth) and rec.trainable
    d = _strict_json(rec.to_dict())
    assert set(d) == JSON_KEYS
    assert d["xi_c"] is None and d["max_depth"] is None and d["trainable"] is True
    assert d["isometry_reachable"] is True and d["weights"] == "orthogonal"
    assert set(d["jacobian"]) == {"gaussian", "orthogonal"} and set(d["snippets"]) == {"torch", "jax"}
    assert d["jacobian"]["orthogonal"]["mean"] == pytest.approx(1.0, abs=1e-10)
    lo, hi = d["sigma_w2_range"]
    assert lo < d["sigma_w2"] < hi


def test_relu_recommends_he_init():
    """ReLU: the only critical point is (σ_w², σ_b²) = (2, 0) (He et al. 2015), μ₂/μ₁² = 2."""
    rec = recommend("relu", 50)
    assert (rec.sigma_w2, rec.sigma_b2, rec.isometry_ratio) == (2.0, 0.0, 2.0)
    assert rec.jacobian["orthogonal"].relative_variance == pytest.approx(50.0, rel=1e-13)
    assert rec.jacobian["gaussian"].relative_variance == pytest.approx(100.0, rel=1e-13)
    advice = " ".join(rec.advice)
    assert rec.sigma_w2_range[1] == 2.0 and "(above it q* is not finite)" in advice
    assert "cannot reach dynamical isometry" in advice


def test_dropout_verdict():
    """With dropout the recommendation is the ξ_c-maximising σ_w², max depth 6ξ_c is finite, and
    depth 100 > 28 is judged not trainable; JSON carries null for the missing window."""
    rec = recommend("tanh", 100, dropout=0.9)
    best = sp.critical_point("tanh", 0.05, 0.9)
    assert rec.sigma_w2 == best.sigma_w2 and rec.max_depth == pytest.approx(6 * best.xi_c, rel=1e-12)
    assert not rec.trainable and rec.sigma_w2_range is None
    d = _strict_json(rec.to_dict())
    assert d["sigma_w2_range"] is None and d["trainable"] is False and d["criterion"] == "max xi_c (dropout)"
    assert "NOT trainable" in format_recommendation(rec)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("tanh", 0), InvalidParameterError),
        (("tanh", 2.5), InvalidParameterError),
        (("tanh", 10, 0.0), InvalidParameterError),
        (("tanh", 10, 1.5), InvalidParameterError),
        (("tanh", 10, 1.0, -0.1), InvalidParameterError),
        (("nope", 10), UnknownNonlinearityError),
        (("relu", 10, 1.0, 0.1), NoCriticalPointError),
        (("softplus", 10), NoCriticalPointError),
    ],
)
def test_bad_input_raises_sigprop_errors(args, error):
    with pytest.raises(error):
        recommend(*args)


def test_gelu_critical_point_without_a_stable_q_star_is_refused_with_a_hint():
    """GELU's critical σ_w² at σ_b² = 0.05 is 2.30 > 1/growth = 2: V(q)/q → σ_w²/2 > 1, so large inputs
    diverge and sigprop.point finds no stable q*. The recommendation says so and names a σ_b² (0.2)
    whose critical σ_w² < 2 is stable; there, isometry needs σ_b² → 0, which is unstable again."""
    with pytest.raises(sp.LengthMapDivergesError, match=r"try σ_b² = 0\.2"):
        recommend("gelu", 100, sigma_b2=0.05)
    rec = recommend("gelu", 100, sigma_b2=0.2)
    assert rec.sigma_w2 < 2.0 and rec.trainable
    auto = recommend("gelu", 100)  # no σ_b² asked for: the first stable default candidate is used, and said
    assert auto.sigma_b2 == 0.2 and auto.sigma_b2_is_default and auto.sigma_w2 == rec.sigma_w2
    assert "no stable q*" in auto.advice[0]
    assert rec.isometry_limit == pytest.approx(1.0, abs=1e-12) and rec.isometry_sigma_b2 is None
    assert isometric_sigma_b2("gelu", 100) is None


def test_silu_recommendation_is_a_critical_point_the_network_reaches():
    """SiLU at σ_b² = 0.5: the critical q* = 12.1 is an unstable fixed point (V'(q*) > 1) and from
    q⁰ = 1 the network settles at q* = 4.67 with χ₁ = 0.946, so σ_b² = 0.5 must be skipped; the pair
    recommended is one whose critical q* is what sigprop.point finds from q⁰ (χ₁ = 1 there)."""
    cp = sp.critical_point("silu", 0.5)
    assert not cp.stable and "unstable" in cp.note and "4.668" in cp.note
    rec = recommend("silu", 100)
    assert rec.sigma_b2 != 0.5 and sp.critical_point("silu", rec.sigma_b2).stable
    r = sp.point("silu", rec.sigma_w2, rec.sigma_b2)
    assert r.q_star == pytest.approx(rec.q_star, rel=1e-9) and r.chi_1 == pytest.approx(1.0, abs=1e-9)
    assert r.slope_q < 1.0
    with pytest.raises(sp.LengthMapDivergesError, match="no stable critical point"):
        recommend("silu", 100, sigma_b2=0.5)


# ---------------------------------------------------------------- snippets


BLOCK_SIGPROP = """
import sys

class Block:  # as if sigprop were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "sigprop":
            raise ModuleNotFoundError(f"No module named {name!r}")

blocker = Block()
sys.meta_path.insert(0, blocker)
"""
UNBLOCK_SIGPROP = """
sys.meta_path.remove(blocker)
"""
TORCH_MODEL = """
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(300, 300), nn.Tanh(), nn.Linear(300, 500), nn.Tanh(), nn.Linear(500, 200),
                      nn.LayerNorm(200))
"""
TORCH_CHECK = """
assert ("sigprop.init.torch_" in sys.modules) == {with_sigprop}
layers = [m for m in model if isinstance(m, nn.Linear)]
for m in layers:
    fan_out, fan_in = m.weight.shape
    gram = m.weight @ m.weight.T if fan_out <= fan_in else m.weight.T @ m.weight
    assert torch.allclose(gram, SIGMA_W2 * max(1.0, fan_out / fan_in) * torch.eye(min(fan_in, fan_out)), atol=1e-4)
    assert abs(m.weight.pow(2).mean().item() * fan_in / SIGMA_W2 - 1) < 1e-5
b = torch.cat([m.bias for m in layers])
assert abs(b.pow(2).mean().item() / SIGMA_B2 - 1) < 0.25  # 1000 draws: s.d. 4.5 %
assert torch.equal(model[5].weight, torch.ones(200))
print(repr(sum(float(p.double().sum()) for p in model.parameters())))
"""


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_snippets_are_valid_python_and_carry_the_values():
    rec = recommend("tanh", 100)
    for code in rec.snippets.values():
        ast.parse(code)
        assert f"SIGMA_W2 = {rec.sigma_w2!r}" in code and f"SIGMA_B2 = {rec.sigma_b2!r}" in code
    with pytest.raises(InvalidParameterError):
        torch_snippet(1.0, 0.0, weights="uniform")
    with pytest.raises(InvalidParameterError):
        jax_snippet(-1.0, 0.0)


def test_torch_snippet_initialises_a_model_with_and_without_sigprop():
    """The PyTorch snippet, run as a user would (``python -c``, after building a model), makes
    orthogonal W with W Wᵀ = σ_w² I (g² = σ_w² fan_out/fan_in for the expanding layer), entries of mean
    square σ_w²/fan_in, biases of variance σ_b², and leaves LayerNorm alone; with sigprop hidden, its
    plain-PyTorch fallback draws the very same numbers."""
    snippet = recommend("tanh", 100).snippets["torch"]
    code = (
        BLOCK_SIGPROP + TORCH_MODEL + snippet + TORCH_CHECK.format(with_sigprop=False)
        + UNBLOCK_SIGPROP + TORCH_MODEL + snippet + TORCH_CHECK.format(with_sigprop=True)
    )  # fmt: skip
    without, with_sp = _run(code).split()
    assert with_sp == without


JAX_MODEL = """
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import equinox as eqx
keys = jax.random.split(jax.random.key(1), 3)
model = eqx.nn.Sequential([eqx.nn.Linear(300, 300, key=keys[0]), eqx.nn.Lambda(jnp.tanh),
                           eqx.nn.Linear(300, 500, key=keys[1]), eqx.nn.Lambda(jnp.tanh),
                           eqx.nn.Linear(500, 200, use_bias=False, key=keys[2])])
"""
JAX_CHECK = """
assert ("sigprop.init.jax_" in sys.modules) == {with_sigprop}
layers = [model.layers[i] for i in (0, 2, 4)]
for m in layers:
    fan_out, fan_in = m.weight.shape
    gram = m.weight @ m.weight.T if fan_out <= fan_in else m.weight.T @ m.weight
    assert jnp.allclose(gram, SIGMA_W2 * max(1.0, fan_out / fan_in) * jnp.eye(min(fan_in, fan_out)), atol=1e-10)
b = jnp.concatenate([layers[0].bias, layers[1].bias])
assert abs(float(jnp.mean(b**2)) / SIGMA_B2 - 1) < 0.25 and layers[2].bias is None  # 800 draws: s.d. 5 %
print(repr(float(sum(jnp.sum(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))))))
"""


def test_jax_snippet_initialises_an_equinox_model_with_and_without_sigprop():
    """The JAX snippet re-initialises every eqx.nn.Linear (weights (fan_out, fan_in)) orthogonally with
    the forward-preserving gain; the plain jax.nn.initializers fallback gives identical arrays."""
    snippet = recommend("tanh", 100).snippets["jax"]
    code = (
        BLOCK_SIGPROP + JAX_MODEL + snippet + JAX_CHECK.format(with_sigprop=False)
        + UNBLOCK_SIGPROP + JAX_MODEL + snippet + JAX_CHECK.format(with_sigprop=True)
    )  # fmt: skip
    without, with_sp = _run(code).split()
    assert with_sp == without
