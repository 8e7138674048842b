"""Physical facts, degenerate cases and input errors of the mean-field core."""

import math

import numpy as np
import pytest

import sigprop as sp
from sigprop.phase_diagram import _compiled_grid


def test_relu_critical_point_is_he_initialisation():
    """ReLU: χ₁ = σ_w²/2 exactly; the critical point is (σ_w², σ_b²) = (2, 0)."""
    r = sp.point("relu", 2.0, 0.0)
    assert (r.chi_1, r.phase, r.xi_c, r.xi_q) == (1.0, "critical", math.inf, math.inf)
    c = sp.critical_point("relu", 0.0)
    assert (c.sigma_w2, c.q_star) == (2.0, 0.0)
    with pytest.raises(sp.NoCriticalPointError):
        sp.critical_point("relu", 0.1)


@pytest.mark.parametrize(
    ("phi", "sw2", "sb2"),
    [
        ("relu", 2.5, 0.1),
        ("relu", 2.0, 0.1),
        ("linear", 1.0, 0.1),
        ("linear", 1.5, 0.0),
        ("softplus", 2.0, 0.1),
        ("relu", 1.9, 0.1),
    ],
)
def test_divergent_length_map_is_an_error_not_a_number(phi, sw2, sb2):
    """ReLU with σ_w² ≥ 2 (σ_w² > 2ρ with dropout), linear with σ_w² ≥ 1: no finite q*."""
    rho = 0.9 if sw2 == 1.9 else 1.0
    with pytest.raises(sp.LengthMapDivergesError, match="diverges"):
        sp.point(phi, sw2, sb2, rho)


def test_exactly_critical_depth_scale_is_infinite():
    """At the critical σ_w² (χ₁ = 1) ξ_c = ∞; just off it ξ_c is huge and finite, and on the
    chaotic side χ_c ≈ 2 − χ₁ (the fixed point near c = 1 is resolved without cancellation)."""
    w = sp.critical_point("tanh", 0.05).sigma_w2
    assert sp.point("tanh", w, 0.05).xi_c == math.inf
    r = sp.point("tanh", w * (1 + 1e-6), 0.05)
    assert r.phase == "chaotic" and math.isfinite(r.xi_c) and r.xi_c > 1e6
    assert 1 - r.chi_c == pytest.approx(r.chi_1 - 1, rel=1e-3)


def test_zero_q_star_limit():
    """σ_b² = 0 in the ordered phase: q* = 0, χ₁ = σ_w²φ'(0)², c* = 1, ξ_c = −1/log χ₁; with
    dropout c* is the σ_b² → 0 limit (1 − a/ρ)/(1 − a), a = σ_w²φ'(0)²."""
    r = sp.point("tanh", 0.5, 0.0)
    assert r.q_star == 0.0 and r.c_star == 1.0
    assert r.chi_1 == pytest.approx(0.5, rel=1e-14)
    assert r.xi_c == pytest.approx(-1 / math.log(0.5), rel=1e-13)
    d = sp.point("tanh", 0.5, 0.0, 0.9)
    assert d.c_star == pytest.approx((1 - 0.5 / 0.9) / (1 - 0.5), rel=1e-10)
    near = sp.point("tanh", 0.5, 1e-12, 0.9)
    assert near.c_star == pytest.approx(d.c_star, abs=1e-9)


@pytest.mark.parametrize("rho", [0.3, 0.7, 0.9, 0.99])
@pytest.mark.parametrize("phi", ["tanh", "relu", "hard_tanh", "erf"])
def test_dropout_destroys_the_critical_point(phi, rho):
    """Schoenholz et al. 2017, §5: with ρ < 1, c* < 1 and ξ_c is finite."""
    r = sp.point(phi, 1.5 * rho, 0.05, rho)
    assert r.c_star < 1.0 and math.isfinite(r.xi_c)


@pytest.mark.parametrize(
    ("phi", "sw2", "sb2", "rho"),
    [
        ("tanh", 2.5, 0.1, 1.0),
        ("hard_tanh", 2.0, 0.05, 1.0),
        ("gelu", 1.5, 0.1, 0.9),
        ("sin", 2.5, 0.1, 1.0),
        ("x*sigmoid(1.702*x)", 1.8, 0.05, 1.0),
    ],
)
def test_fixed_points_and_slopes(phi, sw2, sb2, rho):
    """V(q*) = q*, C(c*) = c*, C(1) = 1 without dropout; V'(q*) and χ_c = C'(c*) agree with
    central finite differences of the maps."""
    r = sp.point(phi, sw2, sb2, rho)
    assert sp.length_map(phi, [r.q_star], sw2, sb2, rho)[0] == pytest.approx(r.q_star, rel=1e-12)
    C, dC = sp.correlation_map(phi, [r.c_star, 1.0], sw2, sb2, rho)
    assert C[0] == pytest.approx(r.c_star, abs=1e-12)
    assert dC[0] == pytest.approx(r.chi_c, rel=1e-10)
    if rho == 1.0:
        assert C[1] == pytest.approx(1.0, abs=1e-13)
    h = 1e-5
    vq = sp.length_map(phi, [r.q_star - h, r.q_star + h], sw2, sb2, rho)
    assert (vq[1] - vq[0]) / (2 * h) == pytest.approx(r.slope_q, rel=1e-7)
    c = r.c_star
    if c + h <= 1.0:
        cc = sp.correlation_map(phi, [c - h, c + h], sw2, sb2, rho)[0]
        fd = (cc[1] - cc[0]) / (2 * h)
    else:  # c* = 1: second-order one-sided difference
        cc = sp.correlation_map(phi, [c - 2 * h, c - h, c], sw2, sb2, rho)[0]
        fd = (3 * cc[2] - 4 * cc[1] + cc[0]) / (2 * h)
    assert fd == pytest.approx(r.chi_c, rel=1e-7)


def test_trajectories_converge_to_fixed_points():
    """q^l → q* at rate ξ_q and c^l → c* at rate ξ_c; He-initialised ReLU keeps q^l = q⁰."""
    r = sp.point("tanh", 2.5, 0.1)
    t = sp.trajectories("tanh", 2.5, 0.1, depth=400, q0=2.0, c0=0.2)
    assert t.q[-1] == pytest.approx(r.q_star, rel=1e-12)
    assert t.c[-1] == pytest.approx(r.c_star, rel=1e-10)
    dist = np.abs(t.c[100:200] - r.c_star)
    rate = -1 / np.mean(np.diff(np.log(dist)))
    assert rate == pytest.approx(r.xi_c, rel=1e-3)
    he = sp.trajectories("relu", 2.0, 0.0, depth=10, q0=1.5, c0=0.3)
    assert np.allclose(he.q, 1.5, rtol=1e-14)


def test_phase_diagram_equals_points_and_explains_gaps():
    """Grid values equal single-point values; divergent cells are flagged, not silent NaN."""
    w, b = np.linspace(0.5, 3.0, 6), np.linspace(0.0, 0.3, 4)
    d = sp.phase_diagram("tanh", w, b)
    for i, j in [(0, 0), (2, 3), (3, 5)]:
        r = sp.point("tanh", w[j], b[i], quadrature=sp.quadrature.GRID)
        for key in ("q_star", "c_star", "chi_1", "chi_c", "xi_q", "xi_c"):
            assert getattr(d, key)[i, j] == pytest.approx(getattr(r, key), rel=1e-12, abs=1e-14)
    relu = sp.phase_diagram("relu", np.linspace(1.0, 3.0, 5), [0.0, 0.1])
    diverged = relu.status == 1
    assert diverged.any() and np.all(np.isinf(relu.q_star[diverged]))
    assert np.all(np.isnan(relu.chi_1[diverged])) and not np.isnan(relu.chi_1[~diverged]).any()


def test_phase_diagram_does_not_recompile_for_new_ranges():
    """Same grid shape, new σ ranges: one compiled program, reused."""
    fn = _compiled_grid(sp.nonlinearity("tanh"), sp.quadrature.GRID)
    sp.phase_diagram("tanh", np.linspace(1, 2, 7), np.linspace(0, 1, 3))
    before = fn._cache_size()
    sp.phase_diagram("tanh", np.linspace(2, 4, 7), np.linspace(0.1, 0.2, 3))
    assert fn._cache_size() == before


def test_critical_line_is_where_chi_1_is_one():
    """On the line parametrised by q*, χ₁(σ_w², σ_b²) = 1 and q* is the fixed point."""
    w, b = sp.critical_line("tanh", [0.1, 0.5, 1.0])
    for wi, bi, q in zip(w, b, [0.1, 0.5, 1.0], strict=True):
        r = sp.point("tanh", wi, bi)
        assert r.chi_1 == pytest.approx(1.0, abs=1e-12)
        assert r.q_star == pytest.approx(q, rel=1e-10)


def test_dropout_max_xi_c():
    """With dropout, critical_point maximises ξ_c over σ_w² (finite, larger than neighbours)."""
    c = sp.critical_point("tanh", 0.05, 0.9)
    assert math.isfinite(c.xi_c) and c.criterion.startswith("max")
    for f in (0.97, 1.03):
        assert sp.point("tanh", c.sigma_w2 * f, 0.05, 0.9).xi_c < c.xi_c


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("tanh", 0.0, 0.1), sp.InvalidParameterError),
        (("tanh", -1.0, 0.1), sp.InvalidParameterError),
        (("tanh", float("nan"), 0.1), sp.InvalidParameterError),
        (("tanh", 1.0, -0.1), sp.InvalidParameterError),
        (("tanh", 1.0, 0.1, 0.0), sp.InvalidParameterError),
        (("tanh", 1.0, 0.1, 1.5), sp.InvalidParameterError),
        (("swoosh", 1.0, 0.1), sp.UnknownNonlinearityError),
        (("__import__('os').system('true')", 1.0, 0.1), sp.UnknownNonlinearityError),
    ],
)
def test_bad_input_is_a_clear_error(args, error):
    with pytest.raises(error) as info:
        sp.point(*args)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_registry_is_complete_and_derivatives_come_from_jax():
    """All requested nonlinearities exist; φ' (from JAX) matches finite differences."""
    import jax
    import jax.numpy as jnp

    required = {
        "tanh",
        "erf",
        "relu",
        "leaky_relu",
        "hard_tanh",
        "linear",
        "sigmoid",
        "softplus",
        "gelu",
        "silu",
        "elu",
        "selu",
        "sin",
    }
    assert required <= set(sp.NAMES) and sp.nonlinearity("swish") is sp.nonlinearity("silu")
    x = jnp.array([-1.3, -0.4, 0.3, 0.9, 2.2])
    for name in required:
        phi = sp.nonlinearity(name)
        d = jax.vmap(jax.grad(phi.fn))(x)
        fd = (phi(x + 1e-6) - phi(x - 1e-6)) / 2e-6
        assert np.allclose(d, fd, rtol=1e-7, atol=1e-8), name


def test_singular_custom_phi_warns_instead_of_nan():
    """φ = √|x| has φ' ~ |x|^{-1/2}, not square-integrable: a clear error, never a NaN; smooth
    custom φ do not warn."""
    with pytest.raises(sp.SigpropError, match="not finite"):  # φ'(0) = ∞ is refused up front
        sp.point("sqrt(abs(x))", 1.0, 0.1)
    assert sp.point("x*sigmoid(1.702*x)", 1.5, 0.1).note == ""
    assert sp.point("maximum(x, 0.1*x)", 1.5, 0.1).note == ""


def test_kink_on_a_panel_edge_is_not_a_nan():
    """A kink that falls on a fixed panel edge makes a zero-width panel with nodes on the kink."""
    r = sp.point("abs(x)", 0.5, 0.1)  # 0 is a fixed panel edge
    assert math.isfinite(r.chi_1) and math.isfinite(r.xi_q)


@pytest.mark.parametrize(("sw2", "sb2"), [(1e300, 0.0), (1.0, 1e300), (1e9, 0.1)])
def test_absurd_variances_are_rejected(sw2, sb2):
    with pytest.raises(sp.InvalidParameterError, match="at most"):
        sp.point("tanh", sw2, sb2)


def test_near_critical_strip_at_zero_bias_always_converges():
    """σ_b² = 0 just above χ₁ = 1: q* is small next to the unstable root q = 0 and g/g' is
    rounding-limited; every cell still converges (regression: 3 cells of a 1000² grid did not)."""
    w = np.linspace(0.9, 1.1, 401)
    d = sp.phase_diagram("tanh", w, [0.0, 1e-12, 1e-6])
    assert np.all(d.status == 0)
    r = sp.point("tanh", 1.0045045045045045, 0.0)
    assert r.q_star == pytest.approx(0.0022564611748357, rel=1e-10) and r.phase == "chaotic"


def _reference_length_map(fn, sw2, sb2):
    """V(q) − q by adaptive scipy quadrature (split at 0), independent of sigprop."""
    from scipy.integrate import quad

    def h(q):
        f = lambda z: fn(math.sqrt(q) * z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        e = sum(quad(f, a, b, epsabs=0, epsrel=1e-13, limit=200)[0] for a, b in ((-40, -1), (-1, 0), (0, 1), (1, 40)))
        return sw2 * e + sb2 - q

    return h


def test_gelu_and_silu_above_sigma_w2_two_settle_from_q0_at_a_locally_attracting_q_star():
    """V(q)/q → σ_w²/2 > 1, yet from q⁰ = 1 the map falls to a small stable q* (the divergence is
    only beyond an unstable fixed point), and the result says so."""
    from scipy.optimize import brentq
    from scipy.special import erf

    gelu = lambda x: x * 0.5 * (1 + erf(x / math.sqrt(2)))  # noqa: E731
    silu = lambda x: x / (1 + math.exp(-x)) if x > -700 else 0.0  # noqa: E731
    for name, fn, sw2, sb2, lo, hi in (("gelu", gelu, 2.05, 0.01, 1e-3, 1.0), ("silu", silu, 2.05, 0.02, 1e-3, 1.0)):
        r = sp.point(name, sw2, sb2)
        truth = brentq(_reference_length_map(fn, sw2, sb2), lo, hi, xtol=1e-16, rtol=1e-14)
        assert r.q_star == pytest.approx(truth, rel=1e-11)
        assert r.slope_q < 1 and "locally attracting" in r.note
    for name in ("gelu", "silu"):  # σ_b² = 0: q* = 0 attracts (V'(0) = σ_w²/4 < 1)
        assert sp.point(name, 2.2, 0.0).q_star == 0.0


def test_softplus_at_sigma_w2_two_diverges_because_v_exceeds_q_everywhere():
    """softplus² − relu² integrates to a positive constant, so V(q) − q ~ 1/√q > 0 for every q at
    σ_w² = 2, σ_b² = 0: q^l creeps up without bound and no finite q* may be reported."""
    with pytest.raises(sp.LengthMapDivergesError):
        sp.point("softplus", 2.0, 0.0)


def test_hard_tanh_just_above_the_transition_jumps_to_a_finite_q_star():
    """Hard tanh is linear on [−1, 1], so V(q) = σ_w²q − O(e^{−1/2q}): for σ_w² = 1 + δ the stable q*
    is ~1/(2 log(1/δ)), not 0 (q = 0 is unstable), e.g. 0.03125 at δ = 3e-8."""
    from scipy.optimize import brentq

    clip = lambda x: max(-1.0, min(1.0, x))  # noqa: E731
    for sw2 in (1.00000003, 1.000000001):
        r = sp.point("hard_tanh", sw2, 0.0)
        truth = brentq(_reference_length_map(clip, sw2, 0.0), 0.01, 0.1, xtol=1e-16, rtol=1e-13)
        assert r.q_star == pytest.approx(truth, rel=1e-6)
        assert r.slope_q < 1 and r.xi_q < math.inf
    assert sp.point("hard_tanh", 1.00000003, 0.0).q_star == pytest.approx(0.03125, abs=1e-5)


def test_a_phi_that_jumps_is_refused_fast_because_chi_1_is_infinite():
    """sign(x) has φ' = 2δ(x): E[φ'²] = ∞, so χ₁ cannot be 0 (what JAX's φ' = 0 would give)."""
    with pytest.raises(sp.SigpropError, match="jumps at x = 0"):
        sp.point("sign(x)", 1.0, 0.1)


def test_error_messages_show_the_digits_that_matter():
    """σ_w² = 1.00000003 must not print as 1."""
    with pytest.raises(sp.LengthMapDivergesError, match=r"σ_w² = 2\.0000001"):
        sp.point("relu", 2.0000001, 0.1)


def test_critical_points_of_gelu_and_silu_at_small_bias_are_flagged_unstable():
    """At σ_b² = 0.05 their critical σ_w² > 2 and V'(q*) > 1 at the critical q*: it is reported, but
    with stable = False and a note, never as a plain answer; tanh's (Schoenholz et al.) is stable."""
    for name in ("gelu", "silu"):
        cp = sp.critical_point(name, 0.05)
        assert not cp.stable and "unstable" in cp.note
    assert sp.critical_point("tanh", 0.05).stable


def test_softplus_has_no_critical_point_at_zero_bias():
    """σ_b²(q*) on softplus's critical line stays below 0 (σ_w² → 2 as q* → ∞, where V(q) > q)."""
    with pytest.raises(sp.NoCriticalPointError):
        sp.critical_point("softplus", 0.0)


def test_odd_phi_without_bias_above_the_transition_decorrelates_completely():
    """σ_b² = 0, odd φ: C(0) = σ_w² E[φ]²/q* = 0, and C is convex with C(1) = 1, so c* = 0 exactly
    and χ_c = C'(0) = σ_w² E[φ'(√q* z)]² ≤ 1 (checked by scipy quadrature), even at σ_w² = 1 + 1e-6."""
    from scipy.integrate import quad

    def tanh_slope(x):
        return 1 - math.tanh(x) ** 2

    for name, dfn, sw2 in (("tanh", tanh_slope, 1.000001), ("tanh", tanh_slope, 2.5), ("sin", math.cos, 1.5)):
        r = sp.point(name, sw2, 0.0)
        s = math.sqrt(r.q_star)
        g = lambda z, d=dfn, s=s: d(s * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        mean_slope = quad(g, -40, 40, epsabs=0, epsrel=1e-13, limit=200)[0]
        assert r.c_star == 0.0 and r.chi_c <= 1.0
        assert r.chi_c == pytest.approx(sw2 * mean_slope**2, rel=1e-10)
