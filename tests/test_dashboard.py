"""The dashboard's state and numbers, without a browser: parameter changes reach the views' data.

Every number a view shows is compared with the sigprop call that defines it (so the dashboard
adds no second copy of any computation), and bad input must leave the last good state in place
with a readable error.
"""

import csv
import io
import math

import jax
import numpy as np
import pytest

import sigprop as sp
from app import compute
from app.dashboard import URL_KEYS, Explorer, create_app, readout_html
from app.server import configure

configure()


@pytest.fixture(scope="module")
def page():
    """A whole page (Panel template) with its Bokeh document, as the server builds per session."""
    template = create_app(sync_url=False)
    template.server_doc()
    template.explorer.auto_simulate = False
    return template


@pytest.fixture
def ex(page):
    e = page.explorer
    e.param.update(phi="tanh", expression="", sigma_w2=1.76, sigma_b2=0.05, dropout=1.0, depth=50, c0=0.5)
    e.clear_training_points()
    e.error = e.message = ""
    return e


def test_readout_is_the_point_result(ex):
    ex.param.update(sigma_w2=4.0, sigma_b2=0.3)
    ro = ex.theory["readout"]
    ref = sp.point("tanh", 4.0, 0.3)
    for key in ("q_star", "c_star", "chi_1", "chi_c", "xi_q", "xi_c"):
        assert ro[key] == pytest.approx(getattr(ref, key), rel=1e-12)
    assert ro["phase"] == "chaotic" and "chaotic" in ro["phase_text"]
    assert ro["critical_sigma_w2"] == pytest.approx(sp.critical_point("tanh", 0.3).sigma_w2, rel=1e-12)


def test_slider_move_reaches_every_view(ex, page):
    before = ex.theory_version
    ex.sigma_w2 = 3.0
    assert ex.theory_version == before + 1
    t = ex.theory["trajectory"]
    ref = sp.trajectories("tanh", 3.0, 0.05, 50, q0=1.0, c0=0.5)
    np.testing.assert_allclose(t["q"], ref.q, rtol=1e-7)
    np.testing.assert_allclose(t["c"], ref.c, rtol=1e-7, atol=1e-9)
    C, _ = sp.correlation_map("tanh", ex.theory["maps"]["c"], 3.0, 0.05)
    np.testing.assert_allclose(ex.theory["maps"]["C"], C, atol=1e-8)
    # the Bokeh sources the browser draws hold the same numbers; a hidden tab is drawn when shown
    views = page.views
    np.testing.assert_allclose(views["q"].theory.data["y"], t["q"])
    assert not np.array_equal(views["cmap"].curve.data["y"], ex.theory["maps"]["C"])
    ex.active_tab = 1
    np.testing.assert_allclose(views["cmap"].curve.data["y"], ex.theory["maps"]["C"])
    ex.active_tab = 2
    assert len(views["functions"].prior.data["ys"]) == compute.N_SAMPLES
    np.testing.assert_allclose(views["functions"].prior.data["ys"], ex.theory["functions"]["samples"])
    ex.active_tab = 0


def test_function_space_matches_circle_kernel(ex):
    ex.depth = 10
    fs = ex.theory["functions"]
    ck = sp.circle_kernels("tanh", compute.N_CIRCLE, 10, 1.76, 0.05)
    np.testing.assert_allclose(fs["k_row"], ck.nngp_row, rtol=1e-7)
    # prior samples have the kernel's variance (5 samples × 256 points: loose, 6 standard errors)
    var = np.mean(fs["samples"] ** 2)
    assert abs(var / ck.nngp_row[0] - 1) < 6 * math.sqrt(2 / fs["samples"].shape[0])


def test_training_points_give_the_gp_posterior(ex):
    ex.add_training_point(1.0, 0.4)
    ex.add_training_point(4.0, -0.3)
    fs = ex.theory["functions"]
    assert "post_mean" in fs
    idx = [int(np.argmin(np.abs(fs["theta"] - t))) for t in fs["train_theta"]]
    np.testing.assert_allclose(fs["post_mean"][idx], [0.4, -0.3], atol=0.05)
    assert np.all(fs["post_sd"][idx] < 0.1) and np.all(np.isfinite(fs["post_sd"]))
    ex.clear_training_points()
    assert "post_mean" not in ex.theory["functions"]


def test_bad_expression_keeps_last_good_state(ex):
    good = dict(ex.theory["readout"])
    ex.expression = "tanh(x"
    assert "expression" in ex.error
    assert ex.theory["readout"] == good
    ex.expression = "__import__('os').system('true')"
    assert ex.error and ex.theory["readout"] == good
    ex.sigma_w2 = 2.0  # the page keeps working with the last valid φ, and keeps the error shown
    assert "expression" in ex.error and ex.theory["readout"]["phi"] == "tanh"
    assert ex.theory["readout"]["chi_1"] == pytest.approx(sp.point("tanh", 2.0, 0.05).chi_1)
    ex.expression = "tanh(x) + 0.1*x"
    assert ex.error == ""
    assert ex.theory["readout"]["chi_1"] == pytest.approx(sp.point("tanh(x) + 0.1*x", 2.0, 0.05).chi_1)


def test_diverging_length_map_is_explained(ex):
    ex.phi = "relu"
    ex.sigma_w2 = 3.0
    assert "diverge" in ex.error.lower() or "q*" in ex.error
    assert ex.theory["readout"]["sigma_w2"] != 3.0  # the last good state stays on screen
    ex.sigma_w2 = 1.5
    assert ex.error == "" and ex.theory["readout"]["chi_1"] == pytest.approx(0.75, rel=1e-12)


@pytest.mark.parametrize("name,value,cap", [("width", 10**7, compute.MAX_WIDTH), ("depth", 10**6, compute.MAX_DEPTH),
                                            ("seeds", 0, 2)])
def test_caps_with_a_reason(ex, name, value, cap):
    setattr(ex, name, value)
    assert getattr(ex, name) == cap
    assert name in ex.message and "server" in ex.message
    ex.param.update(depth=50, width=1024, seeds=16)


def test_snap_to_critical_and_click(ex):
    ex.sigma_b2 = 0.05
    ex.snap_to_critical()
    assert ex.sigma_w2 == pytest.approx(1.7609546396067, rel=1e-10)
    assert ex.theory["readout"]["phase"] in ("critical", "ordered", "chaotic")
    assert abs(ex.theory["readout"]["chi_1"] - 1) < 1e-9
    ex.move_to(9.0, -1.0)  # clicks are clipped to the window
    assert (ex.sigma_w2, ex.sigma_b2) == (compute.SIGMA_W2_RANGE[1], compute.SIGMA_B2_RANGE[0])


def test_presets(ex):
    ex.apply_preset("ReLU at He initialisation (2, 0)")
    assert (ex.phi, ex.sigma_w2, ex.sigma_b2) == ("relu", 2.0, 0.0)
    assert ex.theory["readout"]["chi_1"] == pytest.approx(1.0, rel=1e-12)
    ex.apply_preset("tanh with dropout ρ = 0.9")
    assert ex.dropout == 0.9 and ex.theory["readout"]["c_star"] < 1


def test_poole_preset_is_the_papers_chaotic_network(ex):
    # Poole et al. 2016 quote standard deviations σ_w = 4, σ_b = 0.3: deep in the chaotic phase
    (name,) = [n for n in compute.PRESETS if n.startswith("Poole")]
    ex.apply_preset(name)
    assert (ex.phi, ex.sigma_w2, ex.sigma_b2) == ("tanh", 16.0, pytest.approx(0.09))
    assert ex.theory["readout"]["chi_1"] > 1 and ex.theory["readout"]["phase"] == "chaotic"


def test_phase_view_survives_a_recomputed_diagram(ex):
    # the shared cache may hand back a new, equal diagram object (arrays inside): no ValueError
    import dataclasses

    ex.diagram = dataclasses.replace(ex.diagram)
    ex.curve = tuple(np.array(a) for a in ex.curve)
    v = ex.phase_version
    ex.update_phase()
    assert ex.phase_version == v + 1 and ex.error == ""


def test_phase_diagram_follows_phi_and_dropout(ex):
    v = ex.phase_version
    ex.phi = "erf"
    assert ex.phase_version == v + 1 and ex.diagram.phi == "erf"
    w, b = compute.grid_axes()
    i, j = 40, 120
    ref = sp.point("erf", w[j], b[i])
    assert ex.diagram.chi_1[i, j] == pytest.approx(ref.chi_1, rel=1e-7)
    crit_w, crit_b = ex.curve
    k = len(crit_w) // 2
    assert sp.point("erf", crit_w[k], max(crit_b[k], 0.0)).chi_1 == pytest.approx(1.0, abs=1e-7)
    ex.dropout = 0.9
    assert ex.diagram.dropout == 0.9 and len(ex.curve[0]) > 0  # the ξ_c ridge


def test_no_recompile_on_slider_moves(ex):
    ex.sigma_w2 = 1.9  # warm
    compiles = []

    def listener(event, duration, **kw):
        if "compile" in event:
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for w, b in [(2.1, 0.05), (1.3, 0.2), (3.3, 0.01), (0.7, 0.45)]:
            ex.param.update(sigma_w2=w, sigma_b2=b)
            assert ex.error == ""
    finally:
        jax.monitoring.clear_event_listeners()
    assert compiles == []


def test_exports(ex):
    png = ex.export_bytes("phase", "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = ex.export_bytes("c", "svg")
    assert b"<svg" in svg[:2000]
    rows = list(csv.reader(io.StringIO(ex.export_bytes("q", "csv").decode())))
    assert rows[0][:2] == ["layer", "q_theory"]
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], ex.theory["trajectory"]["q"])
    grid = list(csv.reader(io.StringIO(ex.export_bytes("phase", "csv").decode())))
    assert grid[0] == ["sigma_w2", "sigma_b2", "chi_1"] and len(grid) == compute.GRID_SIZE**2 + 1
    for view in ("cmap", "qmap", "functions"):
        assert ex.export_bytes(view, "csv").count(b"\n") > 10


def test_simulation_beside_theory(ex):
    ex.param.update(sigma_w2=2.5, sigma_b2=0.3, depth=10, width=1024, seeds=16)
    ex.run_simulation()
    sim, th = ex.sim, ex.theory["trajectory"]
    # within 5 standard errors plus an O(1/N) allowance of 4/N
    assert np.all(np.abs(sim["q_mean"] - th["q"]) <= 5 * sim["q_se"] + 4 / 1024 * th["q"])
    assert np.all(np.abs(sim["c_mean"] - th["c"]) <= 5 * sim["c_se"] + 4 / 1024)
    ex.param.update(width=4096, seeds=64, depth=200)
    ex.run_simulation()
    assert "exceeds" in ex.message


def test_url_keys_cover_the_state():
    assert set(URL_KEYS) == {f for f in compute.Settings.__dataclass_fields__ if f != "q0"}
    e = Explorer(phi="erf", sigma_w2=2.5, sigma_b2=0.1)
    assert e.theory["readout"]["phi"] == "erf" and e.theory["readout"]["sigma_w2"] == 2.5


def test_cobweb_path():
    px, py = compute.cobweb_path(np.array([0.1, 0.5, 0.7]))
    assert list(zip(px, py, strict=True)) == [(0.1, 0.1), (0.1, 0.5), (0.5, 0.5), (0.5, 0.7), (0.7, 0.7)]


# ---- batch norm ---------------------------------------------------------------------------------


def test_batchnorm_mode_is_the_batchnorm_point(ex, page):
    ex.param.update(batchnorm=True, batch_size=8)
    try:
        ref = sp.batchnorm_point("tanh", 8)
        assert ex.bn["lambda_"] == pytest.approx(ref.lambda_, rel=1e-12)
        assert ex.bn["xi"] == pytest.approx(ref.xi, rel=1e-12)
        assert (ex.bn["q_star"], ex.bn["c_star"]) == pytest.approx((ref.q_star, ref.c_star), rel=1e-12)
        np.testing.assert_allclose(ex.bn["ratio"], ref.lambda_ ** (50 - np.arange(51)), rtol=1e-12)
        assert np.all(ex.bn["lambda_B"] > 1)  # no ordered phase at any batch size
        assert f"λ = {ref.lambda_:.6g}" in readout_html(ex) and "no ordered phase" in readout_html(ex)
        # the phase diagram shows λ > 1 on the whole plane, without a critical line
        diagram = page.explorer_phase_pane.object
        img = diagram.get(0)
        assert np.all(img.dimension_values(2) == ex.bn["lambda_"]) and "no ordered phase" in img.opts["title"]
        ex.phi = "relu"
        assert ex.bn["lambda_"] == pytest.approx(sp.batchnorm_point("relu", 8).lambda_, rel=1e-12)
    finally:
        ex.param.update(batchnorm=False, phi="tanh")
    assert ex.bn is None and "batch norm" not in readout_html(ex)
    assert "no ordered phase" not in page.explorer_phase_pane.object.get(0).opts["title"]


def test_batchnorm_exports_are_what_the_page_shows(ex):
    """With BN on, the phase CSV holds λ(φ, B) on the grid (not the χ₁ grid of the plain network)."""
    ex.param.update(batchnorm=True, batch_size=8)
    try:
        lam = sp.batchnorm_point("tanh", 8).lambda_
        rows = list(csv.reader(io.StringIO(ex.export_bytes("phase", "csv").decode())))
        assert rows[0] == ["sigma_w2", "sigma_b2", "batch_size", "gradient_growth_lambda"]
        assert len(rows) - 1 == ex.diagram.sigma_w2.size * ex.diagram.sigma_b2.size
        assert {float(r[3]) for r in rows[1:]} == {lam} and {float(r[2]) for r in rows[1:]} == {8.0}
        assert ex.export_bytes("phase", "png")[:8] == b"\x89PNG\r\n\x1a\n"
        rows = list(csv.reader(io.StringIO(ex.export_bytes("bn_lambda", "csv").decode())))
        bs = np.array([float(r[0]) for r in rows[1:]])
        np.testing.assert_allclose([float(r[1]) for r in rows[1:]], sp.batchnorm_lambda("tanh", bs), rtol=1e-12)
        rows = list(csv.reader(io.StringIO(ex.export_bytes("bn_grad", "csv").decode())))
        assert rows[0][:2] == ["layer", "grad_ratio_theory"] and len(rows) == ex.depth + 2
        assert b"<svg" in ex.export_bytes("bn_grad", "svg")
        assert "λ_L = " in readout_html(ex) and "λ_x = " in readout_html(ex)
    finally:
        ex.param.update(batchnorm=False)
    with pytest.raises(ValueError, match="batch norm is off"):
        ex.export_bytes("bn_lambda", "csv")
    assert next(csv.reader(io.StringIO(ex.export_bytes("phase", "csv").decode())))[2] == ex.quantity


def test_batch_size_below_four_is_capped_with_a_message(ex):
    ex.param.update(batchnorm=True, batch_size=16)
    try:
        ex.batch_size = 3
        assert ex.batch_size == compute.MIN_BATCH
        assert "batch_size 3" in ex.message and "B ≥ 4" in ex.message
        assert ex.error == ""
        assert ex.bn["lambda_"] == pytest.approx(sp.batchnorm_point("tanh", 4).lambda_, rel=1e-12)
        ex.batch_size = 10**6
        assert ex.batch_size == compute.MAX_BATCH
    finally:
        ex.param.update(batchnorm=False, batch_size=8)


def test_batchnorm_tab_sources_hold_lambda_of_b(ex, page):
    views = page.views
    ex.param.update(batchnorm=True, batch_size=12, phi="erf")
    try:
        ex.active_tab = 3
        bs, _ = compute.batchnorm_curve("erf")
        np.testing.assert_allclose(views["bn_lambda"].curve.data["x"], np.arange(4, 129))
        np.testing.assert_allclose(views["bn_lambda"].curve.data["y"], sp.batchnorm_lambda("erf", bs), rtol=1e-12)
        assert views["bn_lambda"].current.data["x"] == [12]
        assert views["bn_lambda"].current.data["y"][0] == pytest.approx(sp.batchnorm_point("erf", 12).lambda_)
        np.testing.assert_allclose(views["bn_grad"].theory.data["y"], ex.bn["ratio"])
    finally:
        ex.active_tab = 0
        ex.param.update(batchnorm=False, batch_size=8, phi="tanh")


def test_batchnorm_simulation_grows_like_lambda():
    sim = compute.batchnorm_simulation("linear", 8, 4096, 12, 64)
    assert sim["width"] == compute.BN_SIM_WIDTH and sim["seeds"] == compute.BN_SIM_SEEDS
    assert sim["mean"][-1] == pytest.approx(1.0) and sim["mean"].shape == (13,)
    assert sim["mean_growth"] == pytest.approx(sp.batchnorm_point("linear", 8).lambda_, rel=0.1)  # 1.2
