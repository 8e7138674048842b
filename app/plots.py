"""The figures: the phase diagram in HoloViews, the views that move with every slider in Bokeh.

The phase diagram (heatmap, critical line, click stream) is a HoloViews overlay, rebuilt only when
φ, dropout or the shown quantity change. The views that follow σ_w² and σ_b² (trajectories, maps,
function space, the marker) are plain Bokeh figures whose ColumnDataSources are updated in place:
a slider move then costs about a millisecond of server time per view instead of HoloViews'
~50 ms re-render per DynamicMap.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
from bokeh.models import ColumnDataSource, Legend
from bokeh.plotting import figure

from app.compute import QUANTITIES, SIGMA_B2_RANGE, SIGMA_W2_RANGE

THEORY = "#1f4e9c"
SIMULATION = "#d9480f"
IDENTITY = "#888888"
WIDTH, HEIGHT = 520, 340

def _finite_or_nan(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def phase_image(sigma_w2, sigma_b2, values, quantity: str) -> hv.Image:
    """Heatmap of ``values`` [i_b, i_w]; cells without a finite value (q* diverges) stay blank."""
    z = _finite_or_nan(values)
    log = quantity in ("xi_c", "trainable_depth", "q_star")
    if log:
        z = np.where(z > 0, z, np.nan)
    img = hv.Image(
        (sigma_w2, sigma_b2, z),
        kdims=["σ_w²", "σ_b²"],
        vdims=[hv.Dimension("value", label=QUANTITIES[quantity])],
    )
    opts = dict(cmap="RdBu_r" if quantity == "chi_1" else "viridis", colorbar=True, width=WIDTH + 60,
                height=HEIGHT + 40, tools=["hover", "tap"], clipping_colors={"NaN": "#dddddd"},
                title=QUANTITIES[quantity])
    if quantity == "chi_1":
        finite = z[np.isfinite(z)]
        top = float(np.nanmax(finite)) if finite.size else 2.0
        opts.update(cnorm="log", clim=(1.0 / max(top, 1.0 + 1e-9), max(top, 1.0 + 1e-9)))
    elif log:
        opts.update(cnorm="log")
    return img.opts(**opts)


def batchnorm_image(sigma_w2, sigma_b2, lam: float, batch_size: int) -> hv.Image:
    """With batch norm σ_w² and σ_b² drop out: λ(φ, B) > 1 everywhere, on the χ₁ colour scale."""
    z = np.full((len(sigma_b2), len(sigma_w2)), float(lam))
    img = hv.Image((sigma_w2, sigma_b2, z), kdims=["σ_w²", "σ_b²"],
                   vdims=[hv.Dimension("value", label="gradient growth λ per layer")])
    top = max(float(lam), 1.0 + 1e-9)
    return img.opts(cmap="RdBu_r", cnorm="log", clim=(1.0 / top, top), colorbar=True, width=WIDTH + 60,
                    height=HEIGHT + 40, tools=["hover", "tap"],
                    title=f"Batch norm, B = {batch_size}: λ = {lam:.4g} > 1 everywhere (no ordered phase)")


def critical_overlay(w, b, dropout: float) -> hv.Curve:
    label = "critical line χ₁ = 1" if dropout == 1.0 else "ridge of maximal ξ_c"
    if len(w) == 0:
        label = "no critical line"
    order = np.argsort(b)
    return hv.Curve((np.asarray(w)[order], np.asarray(b)[order]), "σ_w²", "σ_b²", label=label).opts(
        color="black", line_width=2, line_dash="dashed" if dropout < 1.0 else "solid"
    )


def marker_data(sigma_w2: float, sigma_b2: float) -> dict:
    """The current point, clipped into the diagram's window."""
    w = min(max(sigma_w2, SIGMA_W2_RANGE[0]), SIGMA_W2_RANGE[1])
    b = min(max(sigma_b2, SIGMA_B2_RANGE[0]), SIGMA_B2_RANGE[1])
    return {"x": [w], "y": [b]}


def marker_hook(source: ColumnDataSource):
    """A HoloViews hook that draws the current point from ``source`` (updated in place)."""

    def hook(plot, element):
        fig = plot.state
        if not any(getattr(r, "name", "") == "current-point" for r in fig.renderers):
            fig.scatter("x", "y", source=source, size=15, fill_color="white", line_color="black", line_width=2,
                        name="current-point")

    return hook


def _figure(title: str, x: str, y: str, width: int = WIDTH, height: int = HEIGHT, **kw):
    fig = figure(title=title, x_axis_label=x, y_axis_label=y, width=width, height=height,
                 tools="pan,wheel_zoom,box_zoom,reset,save,hover", toolbar_location="above", **kw)
    fig.add_layout(Legend(click_policy="hide", label_text_font_size="9pt"), "right")
    return fig


class TrajectoryView:
    """q^l or c^l against depth: mean field, and finite width (mean ± 2 SE, 5–95 % band)."""

    def __init__(self, which: str):
        label = "qˡ" if which == "q" else "cˡ"
        self.which = which
        self.theory = ColumnDataSource({"x": [], "y": []})
        self.sim = ColumnDataSource({"x": [], "mean": [], "lo": [], "hi": [], "top": [], "bottom": []})
        title = "Length qˡ against depth" if which == "q" else "Correlation cˡ against depth"
        f = self.figure = _figure(title, "layer l", label)
        f.varea("x", "lo", "hi", source=self.sim, fill_color=SIMULATION, fill_alpha=0.18, legend_label="5–95 % (seeds)")
        f.line("x", "y", source=self.theory, color=THEORY, line_width=2.5, legend_label="mean field")
        f.segment("x", "bottom", "x", "top", source=self.sim, color=SIMULATION, legend_label="finite width ±2 SE")
        f.scatter("x", "mean", source=self.sim, color=SIMULATION, size=5, legend_label="finite width ±2 SE")

    def update(self, theory: dict, sim: dict | None) -> None:
        w = self.which
        self.theory.data = {"x": theory["layer"], "y": theory[w]}
        if sim is None or len(sim["layer"]) != len(theory["layer"]):
            self.sim.data = {k: [] for k in self.sim.data}
            return
        m, se = sim[f"{w}_mean"], sim[f"{w}_se"]
        self.sim.data = {"x": sim["layer"], "mean": m, "lo": sim[f"{w}_lo"], "hi": sim[f"{w}_hi"],
                         "top": m + 2 * se, "bottom": m - 2 * se}


class CobwebView:
    """A map x ↦ f(x) with the identity line and the cobweb staircase of its iteration."""

    def __init__(self, title: str, x: str, y: str):
        self.curve = ColumnDataSource({"x": [], "y": []})
        self.identity = ColumnDataSource({"x": [], "y": []})
        self.path = ColumnDataSource({"x": [], "y": []})
        f = self.figure = _figure(title, x, y)
        f.line("x", "y", source=self.identity, color=IDENTITY, line_dash="dashed", legend_label="identity")
        f.line("x", "y", source=self.curve, color=THEORY, line_width=2.5, legend_label="map")
        f.line("x", "y", source=self.path, color=SIMULATION, line_width=1.5, legend_label="iteration")

    def update(self, x, fx, path) -> None:
        lo, hi = float(np.min(x)), float(np.max(x))
        self.curve.data = {"x": x, "y": fx}
        self.identity.data = {"x": [lo, hi], "y": [lo, hi]}
        self.path.data = {"x": path[0], "y": path[1]}


class FunctionView:
    """NNGP prior samples on the unit circle, or the GP posterior given clicked data points."""

    def __init__(self):
        self.prior = ColumnDataSource({"xs": [], "ys": [], "color": []})
        self.band = ColumnDataSource({"x": [], "lo": [], "hi": []})
        self.post_band = ColumnDataSource({"x": [], "lo": [], "hi": []})
        self.post = ColumnDataSource({"xs": [], "ys": []})
        self.mean = ColumnDataSource({"x": [], "y": []})
        self.data = ColumnDataSource({"x": [], "y": []})
        f = self.figure = _figure("NNGP prior samples (click to add data)", "θ (input x = (cos θ, sin θ))", "f(θ)",
                                  width=WIDTH + 320)
        f.varea("x", "lo", "hi", source=self.band, fill_color="#bbbbbb", fill_alpha=0.35, legend_label="prior ±2 sd")
        f.multi_line("xs", "ys", source=self.prior, line_color="color", line_width=1.8, legend_label="prior samples")
        f.varea("x", "lo", "hi", source=self.post_band, fill_color="#9ec5fe", fill_alpha=0.5,
                legend_label="posterior ±2 sd")
        f.multi_line("xs", "ys", source=self.post, line_color="#6c757d", line_width=1, legend_label="posterior draws")
        f.line("x", "y", source=self.mean, color=THEORY, line_width=2.5, legend_label="posterior mean")
        f.scatter("x", "y", source=self.data, color="black", size=9, legend_label="data")

    def update(self, fs: dict, depth: int) -> None:
        theta = fs["theta"]
        none = {"x": [], "lo": [], "hi": []}
        if "post_mean" not in fs:
            colors = hv.Cycle.default_cycles["default_colors"]
            self.prior.data = {"xs": [theta] * len(fs["samples"]), "ys": list(fs["samples"]),
                               "color": [colors[i % len(colors)] for i in range(len(fs["samples"]))]}
            self.band.data = {"x": theta, "lo": -2 * fs["prior_sd"], "hi": 2 * fs["prior_sd"]}
            self.post_band.data, self.post.data = none, {"xs": [], "ys": []}
            self.mean.data, self.data.data = {"x": [], "y": []}, {"x": [], "y": []}
            self.figure.title.text = f"NNGP prior samples at depth {depth} (click to add data)"
            return
        m, sd = fs["post_mean"], fs["post_sd"]
        self.prior.data, self.band.data = {"xs": [], "ys": [], "color": []}, none
        self.post_band.data = {"x": theta, "lo": m - 2 * sd, "hi": m + 2 * sd}
        self.post.data = {"xs": [theta] * len(fs["post_samples"]), "ys": list(fs["post_samples"])}
        self.mean.data = {"x": theta, "y": m}
        self.data.data = {"x": fs["train_theta"], "y": fs["train_y"]}
        self.figure.title.text = f"NNGP posterior at depth {depth} ({len(fs['train_y'])} points; click to add more)"


class BatchNormLambdaView:
    """λ(φ, B) against the batch size B (log x), the current B marked, and the line λ = 1."""

    def __init__(self):
        self.curve = ColumnDataSource({"x": [], "y": []})
        self.current = ColumnDataSource({"x": [], "y": []})
        self.one = ColumnDataSource({"x": [], "y": []})
        f = self.figure = _figure("Batch norm: gradient growth λ per layer", "batch size B", "λ(φ, B)",
                                  x_axis_type="log")
        f.line("x", "y", source=self.one, color=IDENTITY, line_dash="dashed", legend_label="λ = 1")
        f.line("x", "y", source=self.curve, color=THEORY, line_width=2.5, legend_label="λ(B)")
        f.scatter("x", "y", source=self.current, size=12, fill_color="white", line_color="black", line_width=2,
                  legend_label="current B")

    def update(self, bn: dict | None) -> None:
        if bn is None:
            for s in (self.curve, self.current, self.one):
                s.data = {"x": [], "y": []}
            self.figure.title.text = "Batch norm is off: tick “batch norm” in the sidebar"
            return
        self.curve.data = {"x": bn["B"], "y": bn["lambda_B"]}
        self.current.data = {"x": [bn["batch_size"]], "y": [bn["lambda_"]]}
        self.one.data = {"x": [bn["B"][0], bn["B"][-1]], "y": [1.0, 1.0]}
        self.figure.title.text = (f"Batch norm, φ = {bn['phi']}: λ > 1 for every B "
                                  f"(λ = {bn['lambda_']:.4g} at B = {bn['batch_size']})")


class BatchNormGradientView:
    """‖∂L/∂x^l‖² / ‖∂L/∂x^L‖² against the layer l (log y): theory λ^(L−l), and finite networks."""

    def __init__(self):
        self.theory = ColumnDataSource({"x": [], "y": []})
        self.sim = ColumnDataSource({"x": [], "mean": [], "top": [], "bottom": []})
        f = self.figure = _figure("Gradient explosion with batch norm", "layer l",
                                  "‖∂L/∂xˡ‖² / ‖∂L/∂xᴸ‖²", y_axis_type="log")
        f.line("x", "y", source=self.theory, color=THEORY, line_width=2.5, legend_label="theory λ^(L−l)")
        f.segment("x", "bottom", "x", "top", source=self.sim, color=SIMULATION, legend_label="finite width ±2 SE")
        f.scatter("x", "mean", source=self.sim, color=SIMULATION, size=5, legend_label="finite width ±2 SE")

    def update(self, bn: dict | None, sim: dict | None) -> None:
        if bn is None:
            self.theory.data = {"x": [], "y": []}
        else:
            self.theory.data = {"x": bn["layer"], "y": bn["ratio"]}
        if bn is None or sim is None or len(sim["layer"]) != len(bn["layer"]):
            self.sim.data = {k: [] for k in self.sim.data}
            return
        m, se = sim["mean"], sim["se"]
        bottom = np.where(m - 2 * se > 0, m - 2 * se, m)  # a log axis cannot show a bar below zero
        self.sim.data = {"x": sim["layer"], "mean": m, "top": m + 2 * se, "bottom": bottom}
