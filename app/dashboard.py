"""The Panel page: sidebar controls, the five views, teaching text, URL state and exports.

:class:`Explorer` holds one session's state (a ``param.Parameterized``) and the numbers every
view shows; it recomputes them when a parameter changes and keeps the last good state when an
input is bad, showing the error instead. :func:`create_app` lays the page out.
"""

from __future__ import annotations

import asyncio
import io
import math
import threading
from html import escape

import holoviews as hv
import numpy as np
import panel as pn
import param
from bokeh.events import Tap
from bokeh.models import ColumnDataSource, Div

import sigprop as sp
from app import compute, export, plots, teaching
from app.compute import MAX_DEPTH, MAX_SEEDS, MAX_WIDTH, QUANTITIES, Settings
from sigprop.errors import SigpropError
from sigprop.nonlinearities import NAMES

TAB_TRAJECTORIES, TAB_MAPS, TAB_FUNCTIONS, TAB_BATCHNORM = range(4)

URL_KEYS = {
    "phi": "phi", "expression": "expr", "sigma_w2": "sw2", "sigma_b2": "sb2", "dropout": "rho",
    "depth": "depth", "width": "width", "seeds": "seeds", "c0": "c0", "quantity": "view",
    "batchnorm": "bn", "batch_size": "B",
}
"""Explorer parameter → URL query key: the URL carries the whole state."""



class Explorer(param.Parameterized):
    """One session's state, and the numbers the views draw (recomputed on every change)."""

    phi = param.Selector(default="tanh", objects=list(NAMES), doc="nonlinearity from the registry")
    expression = param.String(default="", doc="custom nonlinearity in x (overrides phi when given)")
    sigma_w2 = param.Number(default=1.76, bounds=(1e-8, 1e8), doc="weight variance σ_w²")
    sigma_b2 = param.Number(default=0.05, bounds=(0.0, 1e8), doc="bias variance σ_b²")
    dropout = param.Number(default=1.0, bounds=(0.01, 1.0), doc="dropout keep-probability ρ")
    depth = param.Integer(default=50)
    width = param.Integer(default=512)
    seeds = param.Integer(default=8)
    c0 = param.Number(default=0.5, bounds=(-1.0, 1.0), doc="input correlation c⁰")
    quantity = param.Selector(default="chi_1", objects=list(QUANTITIES))
    batchnorm = param.Boolean(default=False, doc="batch-normalised network (Yang et al. 2019)")
    batch_size = param.Integer(default=8, doc="batch size B of the batch-norm view")
    auto_simulate = param.Boolean(default=True, doc="rerun the simulation on every change when it is cheap")

    error = param.String(default="", doc="why the last input was refused (the views keep the last good state)")
    message = param.String(default="", doc="a cap that was applied, and why")
    theory_version = param.Integer(default=0)
    phase_version = param.Integer(default=0)
    sim_version = param.Integer(default=0)
    running = param.Boolean(default=False)
    active_tab = param.Integer(default=0, doc="the main-area tab on screen (views elsewhere are drawn when shown)")

    def __init__(self, **params):
        super().__init__(**params)
        self.theory: dict = {}
        self.sim: dict | None = None
        self.sim_settings: Settings | None = None
        self.bn: dict | None = None
        self.bn_sim: dict | None = None
        self.diagram = None
        self.curve = (np.array([]), np.array([]))
        self._phase_quantity = ""  # the quantity the diagram was last drawn for
        self.train_theta: list[float] = []
        self.train_y: list[float] = []
        self.good = Settings()
        self.update_theory()
        self.update_phase()
        self.update_batchnorm()

    # ---- state -------------------------------------------------------------------------------

    def settings(self) -> Settings:
        return Settings(phi=self.phi, expression=self.expression, sigma_w2=float(self.sigma_w2),
                        sigma_b2=float(self.sigma_b2), dropout=float(self.dropout), depth=int(self.depth),
                        width=int(self.width), seeds=int(self.seeds), c0=float(self.c0), quantity=self.quantity,
                        batchnorm=bool(self.batchnorm), batch_size=int(self.batch_size))

    def usable_settings(self) -> tuple[Settings, str]:
        """The settings to compute with, and the expression error if the typed φ is malformed.

        A malformed custom expression must not freeze the page: the views go on with the last
        valid φ (and every other current setting) while the error stays on screen.
        """
        s = self.settings()
        if s.expression.strip():
            try:
                sp.nonlinearity(s.expression)
            except SigpropError as err:
                return (s.replace(phi=self.good.phi, expression=self.good.expression),
                        f"{err} (showing the last valid φ = {self.good.nonlinearity})")
        return s, ""

    @param.depends("depth", "width", "seeds", "batch_size", watch=True, on_init=True)
    def _apply_caps(self):
        notes = []
        for name, (lo, hi, why) in compute.CAPS.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                capped = min(max(value, lo), hi)
                notes.append(f"{name} {value} is outside [{lo}, {hi}] and was set to {capped}: {why}.")
                setattr(self, name, capped)
        if notes:
            self.message = " ".join(notes)

    # ---- computations ------------------------------------------------------------------------

    @param.depends("phi", "expression", "sigma_w2", "sigma_b2", "dropout", "depth", "c0", watch=True)
    def update_theory(self):
        """Readout, trajectories, iterated maps and function space for the current point."""
        s, expression_error = self.usable_settings()
        try:
            compute.check_settings(s)
            ro = compute.readout(s)
            traj = compute.trajectory(s)
            data = dict(readout=ro, trajectory=traj, maps=compute.iterated_maps(s, ro["q_star"], traj),
                        functions=compute.function_space(s, self.train_theta, self.train_y))
        except SigpropError as err:
            self.error = str(err)
            return
        self.theory, self.good, self.error = data, s, expression_error
        self.theory_version += 1
        self._maybe_simulate()

    @param.depends("phi", "expression", "dropout", "quantity", watch=True)
    def update_phase(self):
        s, expression_error = self.usable_settings()
        try:
            compute.check_settings(s)
            diagram = compute.phase(s.nonlinearity, s.dropout)
            curve = compute.critical_curve(s.nonlinearity, s.dropout)
        except SigpropError as err:
            self.error = str(err)
            return
        # by identity: the shared cache hands out the same objects for the same key, and dataclasses
        # holding arrays cannot be compared with != (ValueError: truth value of an array)
        if diagram is not self.diagram or curve is not self.curve or self.quantity != self._phase_quantity:
            self.diagram, self.curve, self._phase_quantity = diagram, curve, self.quantity
            self.phase_version += 1
        self.error = expression_error or self.error

    @param.depends("phi", "expression", "depth", "batchnorm", "batch_size", watch=True)
    def update_batchnorm(self):
        """λ, ξ, q*, c* of the batch-normalised network, λ(B) and the theory gradient ratios.

        BN removes σ_w² and σ_b², so nothing here moves with those sliders.
        """
        if not self.batchnorm:
            if self.bn is not None:
                self.bn = self.bn_sim = None
                self.theory_version += 1
                self.phase_version += 1
            return
        if not compute.MIN_BATCH <= self.batch_size <= compute.MAX_BATCH:
            return  # _apply_caps sets it in range (with a message), which calls this again
        s, _ = self.usable_settings()
        try:
            bn = compute.batchnorm_view(s.nonlinearity, int(self.batch_size), int(self.depth))
        except SigpropError as err:
            self.error = str(err)
            return
        if self.bn_sim is not None and (self.bn_sim["phi"], self.bn_sim["batch_size"], self.bn_sim["depth"]) != (
                s.nonlinearity, bn["batch_size"], int(self.depth)):
            self.bn_sim = None
        self.bn = bn
        self.theory_version += 1
        self.phase_version += 1  # the diagram shows λ: no ordered phase is left

    def batchnorm_simulation_args(self) -> tuple:
        return (self.usable_settings()[0].nonlinearity, int(self.batch_size), int(self.width), int(self.depth),
                int(self.seeds))

    def run_batchnorm_simulation(self):
        """Finite BN networks at the current φ, B and depth (only on the Run button: ~seconds)."""
        if self.bn is None:
            return
        try:
            self.bn_sim = compute.batchnorm_simulation(*self.batchnorm_simulation_args())
        except SigpropError as err:
            self.error = str(err)
            return
        self.sim_version += 1

    def update_functions(self):
        try:
            self.theory["functions"] = compute.function_space(self.good, self.train_theta, self.train_y)
        except SigpropError as err:
            self.error = str(err)
            return
        self.theory_version += 1

    def simulation_is_cheap(self) -> bool:
        return compute.simulation_work(self.settings()) <= compute.AUTO_SIM_WORK

    @param.depends("width", "seeds", "auto_simulate", watch=True)
    def _maybe_simulate(self):
        if self.auto_simulate and self.simulation_is_cheap() and not self.error:
            self.run_simulation()
        elif self.sim is not None and self.sim_settings != self.good.replace(width=int(self.width),
                                                                              seeds=int(self.seeds)):
            self.sim = None  # it was run for other settings: never show it beside this theory
            self.sim_version += 1

    def _simulation_request(self) -> Settings | None:
        """The settings to simulate, or None (with a message) when the run is too large to share."""
        s = self.good.replace(width=int(self.width), seeds=int(self.seeds))
        if compute.simulation_work(s) > compute.MAX_SIM_WORK:
            self.message = (f"width × depth × seeds = {compute.simulation_work(s):,} exceeds "
                            f"{compute.MAX_SIM_WORK:,}: lower one of them (the server is shared)")
            return None
        return s

    def run_simulation(self):
        """Finite-width networks at the current point (synchronous)."""
        s = self._simulation_request()
        if s is None:
            return
        try:
            self.sim = compute.simulation(s)
        except SigpropError as err:
            self.error = str(err)
            return
        self.sim_settings = s
        self.sim_version += 1

    async def run_simulation_async(self, *_):
        """The Run button: show the progress indicator, simulate off the event loop, then draw."""
        self.running = True
        await asyncio.sleep(0.05)
        s = self._simulation_request()
        try:
            if s is not None:
                loop = asyncio.get_running_loop()
                self.sim = await loop.run_in_executor(None, compute.simulation, s)
                self.sim_settings = s
                if self.bn is not None:
                    args = self.batchnorm_simulation_args()
                    self.bn_sim = await loop.run_in_executor(None, compute.batchnorm_simulation, *args)
                self.sim_version += 1
        except SigpropError as err:
            self.error = str(err)
        finally:
            self.running = False

    # ---- actions -----------------------------------------------------------------------------

    def apply_preset(self, name: str):
        self.param.update(**compute.PRESETS[name])

    def snap_to_critical(self, *_):
        w, how = compute.critical_sigma_w2(self.good.nonlinearity, float(self.sigma_b2), float(self.dropout))
        if math.isfinite(w):
            self.sigma_w2 = w
            self.message = f"σ_w² set to {w:.10g} ({how})"
        else:
            self.message = f"no critical σ_w² at σ_b² = {self.sigma_b2:g}: {how}"

    def move_to(self, sigma_w2: float, sigma_b2: float):
        """A click on the phase diagram (clipped to the window)."""
        w = min(max(float(sigma_w2), compute.SIGMA_W2_RANGE[0]), compute.SIGMA_W2_RANGE[1])
        b = min(max(float(sigma_b2), compute.SIGMA_B2_RANGE[0]), compute.SIGMA_B2_RANGE[1])
        self.param.update(sigma_w2=round(w, 4), sigma_b2=round(b, 4))

    def add_training_point(self, theta: float, y: float):
        self.train_theta.append(float(theta) % (2 * np.pi))
        self.train_y.append(float(y))
        self.update_functions()

    def clear_training_points(self, *_):
        self.train_theta.clear()
        self.train_y.clear()
        self.update_functions()

    # ---- exports -----------------------------------------------------------------------------

    def export_bytes(self, view: str, fmt: str) -> bytes:
        """The figure (png, svg) or data (csv) of a view, as shown now."""
        t, s = self.theory, self.good
        if view == "phase" and self.bn is not None:  # what the page shows: λ(φ, B) on the whole plane
            d, bn = self.diagram, self.bn
            W, B = np.meshgrid(d.sigma_w2, d.sigma_b2)
            values = np.full(W.shape, bn["lambda_"])
            if fmt == "csv":
                return export.to_csv({"sigma_w2": W, "sigma_b2": B, "batch_size": np.full(W.shape, bn["batch_size"]),
                                      "gradient_growth_lambda": values})
            fig = export.phase_figure(d.sigma_w2, d.sigma_b2, values,
                                      f"gradient growth λ per layer (batch norm, B = {bn['batch_size']})", None,
                                      (s.sigma_w2, s.sigma_b2))
        elif view == "phase":
            d = self.diagram
            values = compute.phase_values(d, self.quantity)
            if fmt == "csv":
                W, B = np.meshgrid(d.sigma_w2, d.sigma_b2)
                return export.to_csv({"sigma_w2": W, "sigma_b2": B, self.quantity: values})
            fig = export.phase_figure(d.sigma_w2, d.sigma_b2, values, QUANTITIES[self.quantity], self.curve,
                                      (s.sigma_w2, s.sigma_b2))
        elif view in ("bn_lambda", "bn_grad"):
            if self.bn is None:
                raise ValueError("batch norm is off: turn it on to export its views")
            bn, sim = self.bn, self.bn_sim
            if view == "bn_lambda":
                if fmt == "csv":
                    return export.to_csv({"batch_size": bn["B"], "lambda": bn["lambda_B"]})
                fig = export.batchnorm_lambda_figure(bn)
            else:
                if fmt == "csv":
                    cols = {"layer": bn["layer"], "grad_ratio_theory": bn["ratio"]}
                    if sim is not None and len(sim["layer"]) == len(bn["layer"]):
                        cols.update(grad_ratio_mean=sim["mean"], grad_ratio_se=sim["se"])
                    return export.to_csv(cols)
                fig = export.batchnorm_gradient_figure(bn, sim)
        elif view in ("q", "c"):
            tr, sim = t["trajectory"], self.sim
            if fmt == "csv":
                cols = {"layer": tr["layer"], f"{view}_theory": tr[view]}
                if sim is not None and len(sim["layer"]) == len(tr["layer"]):
                    cols.update({f"{view}_{k}": sim[f"{view}_{k}"] for k in ("mean", "se", "lo", "hi")})
                return export.to_csv(cols)
            fig = export.trajectory_figure(tr, sim, view)
        elif view in ("cmap", "qmap"):
            m = t["maps"]
            name = "c" if view == "cmap" else "q"
            x, fx, path = (m["c"], m["C"], m["c_path"]) if name == "c" else (m["q"], m["V"], m["q_path"])
            if fmt == "csv":
                return export.to_csv({name: x, f"map_{name}": fx})
            title = "Correlation map C(c) at q*" if view == "cmap" else "Length map V(q)"
            fig = export.cobweb_figure(x, fx, path, name, title)
        elif view == "functions":
            fs = t["functions"]
            if fmt == "csv":
                cols = {"theta": fs["theta"], **{f"prior_sample_{i}": f for i, f in enumerate(fs["samples"])}}
                if "post_mean" in fs:
                    cols.update(posterior_mean=fs["post_mean"], posterior_sd=fs["post_sd"])
                return export.to_csv(cols)
            fig = export.function_figure(fs, s.depth)
        else:
            raise ValueError(f"unknown view {view!r}")
        return export.to_image(fig, fmt)


# ---- views -----------------------------------------------------------------------------------


def phase_view(ex: Explorer, write: DocumentWriter) -> pn.pane.HoloViews:
    """Heatmap + critical line (HoloViews) + marker (Bokeh source); a click moves the point."""
    source = ColumnDataSource(plots.marker_data(ex.sigma_w2, ex.sigma_b2))

    def marker():
        source.data = plots.marker_data(ex.sigma_w2, ex.sigma_b2)

    ex.param.watch(lambda *_: write("marker", marker), ["sigma_w2", "sigma_b2"])

    def build():
        d = ex.diagram
        if ex.bn is not None:  # σ_w², σ_b² drop out: λ(φ, B) > 1 on the whole plane
            img = plots.batchnorm_image(d.sigma_w2, d.sigma_b2, ex.bn["lambda_"], ex.bn["batch_size"])
        else:
            img = plots.phase_image(d.sigma_w2, d.sigma_b2, compute.phase_values(d, ex.quantity), ex.quantity)
        tap = hv.streams.SingleTap(source=img)
        def on_tap(x, y):
            # HoloViews runs stream subscribers outside Bokeh's document lock, where a change to
            # a plain Bokeh model (the marker's source) never reaches the browser: move in a locked tick.
            if x is not None and y is not None:
                pn.state.execute(lambda: held(ex.move_to, x, y), schedule=True)

        tap.add_subscriber(on_tap)
        curve = (np.array([]), np.array([])) if ex.bn is not None else ex.curve
        return (img * plots.critical_overlay(*curve, ex.dropout)).opts(
            hv.opts.Overlay(hooks=[plots.marker_hook(source)], legend_position="top_left"))

    pane = pn.pane.HoloViews(build(), sizing_mode="fixed", name="phase-diagram")
    ex.param.watch(lambda *_: setattr(pane, "object", build()), "phase_version")
    return pane


def live_views(ex: Explorer, write: DocumentWriter) -> dict:
    """The Bokeh views that follow every change, updated in place from the Explorer's numbers."""
    views = {"q": plots.TrajectoryView("q"), "c": plots.TrajectoryView("c"),
             "cmap": plots.CobwebView("Correlation map C(c) at q* (cobweb from c⁰)", "c", "C(c)"),
             "qmap": plots.CobwebView("Length map V(q) (cobweb from q⁰ = 1)", "q", "V(q)"),
             "functions": plots.FunctionView(),
             "bn_lambda": plots.BatchNormLambdaView(), "bn_grad": plots.BatchNormGradientView()}

    pushed = {}  # tab index → theory_version last drawn there

    def theory(*_):
        """Draw the visible tab now; a hidden tab is drawn when it is shown (less to send per move)."""
        t, tab = ex.theory, ex.active_tab
        if pushed.get(tab) == ex.theory_version:
            return
        if tab == TAB_TRAJECTORIES:
            for w in "qc":
                views[w].update(t["trajectory"], ex.sim)
        elif tab == TAB_MAPS:
            m = t["maps"]
            views["cmap"].update(m["c"], m["C"], m["c_path"])
            views["qmap"].update(m["q"], m["V"], m["q_path"])
        elif tab == TAB_FUNCTIONS:
            views["functions"].update(t["functions"], ex.good.depth)
        else:
            views["bn_lambda"].update(ex.bn)
            views["bn_grad"].update(ex.bn, ex.bn_sim)
        pushed[tab] = ex.theory_version

    def simulation(*_):
        for w in "qc":
            views[w].update(ex.theory["trajectory"], ex.sim)
        views["bn_grad"].update(ex.bn, ex.bn_sim)

    for ex.active_tab in (TAB_BATCHNORM, TAB_MAPS, TAB_FUNCTIONS, TAB_TRAJECTORIES):  # every view starts drawn
        theory()
    ex.param.watch(lambda *_: write("theory", theory), ["theory_version", "active_tab"])
    ex.param.watch(lambda *_: write("simulation", simulation), "sim_version")
    views["functions"].figure.on_event(Tap, lambda e: ex.add_training_point(e.x, e.y))
    return views


def readout_html(ex: Explorer) -> str:
    """The readout's HTML; every string in it that can come from a user (φ, notes) is escaped."""
    r = ex.theory["readout"]

    def fmt(key, digits=6):
        v = r.get(key)
        return "∞" if v is None else f"{v:.{digits}g}"

    rows = [("q*", "q_star"), ("c*", "c_star"), ("χ₁", "chi_1"), ("χ_c", "chi_c"), ("ξ_q", "xi_q"), ("ξ_c", "xi_c")]
    cells = "".join(f'<tr><th>{label}</th><td id="ro-{key}">{fmt(key)}</td></tr>' for label, key in rows)
    crit = r["critical_sigma_w2"]
    crit_txt = f"{crit:.8g}" if math.isfinite(crit) else "none"
    note = f'<p class="note">{escape(r["note"])}</p>' if r.get("note") else ""
    if ex.bn is not None:
        bn = ex.bn
        note += (f'<p id="ro-batchnorm"><b>batch norm</b> (B = {bn["batch_size"]}): λ = {bn["lambda_"]:.6g}, '
                 f'gradient depth scale ξ = {bn["xi"]:.6g}; no ordered phase: λ &gt; 1 for every σ_w², σ_b². '
                 f'Forward: the batch kernel reaches its fixed point at rates λ_L = {bn["lambda_l"]:.4g}, '
                 f'λ_M = {bn["lambda_m"]:.4g} per layer (depth scale {bn["xi_forward"]:.4g}); different batches '
                 f'decorrelate at λ_x = {bn["lambda_cross"]:.4g}.</p>')
    return (f'<div class="readout"><p id="ro-phase"><b>Phase:</b> {escape(r["phase_text"])}</p>'
            f'<table>{cells}<tr><th>critical σ_w²</th><td id="ro-critical">{crit_txt}</td></tr></table>'
            f'<p class="where">at σ_w² = <span id="ro-sw2">{r["sigma_w2"]:.6g}</span>, '
            f'σ_b² = <span id="ro-sb2">{r["sigma_b2"]:.6g}</span>, ρ = {r["dropout"]:g}, φ = {escape(r["phi"])} '
            f'(critical σ_w²: {escape(r["critical_how"])})</p>{note}</div>')


def downloads(ex: Explorer, view: str, stem: str) -> pn.Row:
    def make(fmt):
        return pn.widgets.FileDownload(callback=lambda: io.BytesIO(ex.export_bytes(view, fmt)),
                                       filename=f"{stem}.{fmt}", label=fmt.upper(), color="light",
                                       embed=False, width=70, height=32)

    return pn.Row(*(make(f) for f in ("png", "svg", "csv")), margin=(0, 5))


ALERT_STYLES = {
    "danger": {"color": "#842029", "background": "#f8d7da", "border": "1px solid #f5c2c7"},
    "info": {"color": "#055160", "background": "#cff4fc", "border": "1px solid #b6effb"},
}


def alert_html(text: str, kind: str) -> str:
    """``text`` as plain text in an alert box: escaped, so a message that quotes what a person typed
    or what a URL carried (``?expr=<img src=x onerror=…>``) is shown, never run.

    >>> alert_html('bad φ "<img src=x onerror=alert(1)>"', "danger")[-62:]
    'role="alert">bad φ &quot;&lt;img src=x onerror=alert(1)&gt;&quot;</div>'
    """
    return f'<div class="sigprop-alert sigprop-alert-{kind}" role="alert">{escape(text)}</div>'


def plain_alert(text: param.Parameter, kind: str, name: str) -> pn.pane.HTML:
    """An alert that shows the string parameter ``text`` as plain text, hidden while it is empty.

    Not a Markdown pane (Panel's ``Alert``): Markdown passes raw HTML through.
    """
    style = {"padding": "0.6em 1em", "border-radius": "0.3em", "margin": "0.3em 0", **ALERT_STYLES[kind]}
    return pn.pane.HTML(text.rx().rx.pipe(alert_html, kind), visible=text.rx().rx.bool(), name=name,
                        sizing_mode="stretch_width", stylesheets=[
                            f".sigprop-alert-{kind} {{{'; '.join(f'{k}: {v}' for k, v in style.items())}}}"])


def teaching_card(text: str) -> pn.Card:
    return pn.Card(pn.pane.Markdown(text, sizing_mode="stretch_width"), title="What am I looking at?",
                   collapsed=True, sizing_mode="stretch_width", header_background="#eef2f8")


# ---- the page ----------------------------------------------------------------------------------


def apply_link_values(ex: Explorer, values: dict) -> None:
    """Apply a link's values one by one, through the same parameter checks as typed values.

    Panel applies a URL's values all at once and drops them all, silently, when one is refused;
    here each valid value is kept and each refused one is named in the message (shown as text).
    """
    refused = []
    for name, value in values.items():
        try:
            setattr(ex, name, value)
        except (ValueError, TypeError):
            refused.append(f"{URL_KEYS.get(name, name)}={str(value)[:40]!r}")
    if refused:
        verb = "was" if len(refused) == 1 else "were"
        ex.message = f"the link's {', '.join(refused)} {verb} not valid and ignored (the others were applied)"


class DocumentWriter:
    """Applies changes to plain Bokeh models (sources, Divs) under the session's document lock.

    Param watchers run wherever the change came from: inside Panel's processing of a browser
    event (an Enter in a text box), or on the event loop after an awaited worker (Run). Writing a
    plain Bokeh model there raises Bokeh's "_pending_writes should be non-None" error, and the
    change is lost. So the writes are queued (by key: only the latest per key is applied) and run
    in one next-tick callback of the session's document, which holds the lock and sends all of
    them as one websocket message. Without a server session (tests, notebooks) they run at once.
    """

    def __init__(self, doc=None):
        self.doc = doc if doc is not None and doc.session_context is not None else None
        self._pending: dict = {}
        self._lock = threading.Lock()
        self._scheduled = False

    def __call__(self, key: str, fn) -> None:
        if self.doc is None:
            fn()
            return
        with self._lock:
            self._pending[key] = fn
            if self._scheduled:
                return
            self._scheduled = True
        self.doc.add_next_tick_callback(self._flush)  # thread-safe in Bokeh

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending, self._scheduled = self._pending, {}, False
        self.doc.hold("combine")
        try:
            for fn in pending.values():
                fn()
        finally:
            self.doc.unhold()


def held(fn, *args) -> None:
    """Run ``fn(*args)`` sending all the model changes it causes as one websocket message."""
    with pn.io.hold():
        fn(*args)


def set_held(ex: Explorer, name: str, value) -> None:
    """Set one Explorer parameter, sending all the resulting model changes as one message.

    Without ``hold`` Bokeh sends each changed property (sources, texts, marker, URL) in its own
    websocket message: ~20 per slider move, which dominated a busy server's time.
    """
    if value is None:
        return
    with pn.io.hold():
        setattr(ex, name, value)


def sidebar(ex: Explorer) -> list:
    phi = pn.widgets.Select.from_param(ex.param.phi, label="Nonlinearity φ")
    expr = pn.widgets.TextInput.from_param(ex.param.expression, label="Custom φ(x) (e.g. tanh(x) + 0.1*x)",
                                           placeholder="leave empty to use the list")
    sliders = {}
    for name, label, lo, hi, step in (("sigma_w2", "σ_w²", 0.05, 5.0, 0.01), ("sigma_b2", "σ_b²", 0.0, 0.5, 0.001),
                                      ("dropout", "dropout keep-probability ρ", 0.5, 1.0, 0.01)):
        fixed = {"sigma_w2": (1e-6, 1e8), "sigma_b2": (0.0, 1e8), "dropout": (0.01, 1.0)}[name]
        w = pn.widgets.EditableFloatSlider(label=label, start=lo, end=hi, step=step, value=getattr(ex, name),
                                           fixed_start=fixed[0], fixed_end=fixed[1], format="0[.]0000")
        w.param.watch(lambda e, n=name: set_held(ex, n, e.new), "value_throttled")
        ex.param.watch(lambda e, w=w: setattr(w, "value", e.new), name)
        sliders[name] = w
    ints = []
    for name, label, lo, hi, step in (("depth", "depth L", 1, MAX_DEPTH, 1),
                                      ("width", "width N (simulation)", 2, MAX_WIDTH, 2),
                                      ("seeds", "seeds (simulation)", 2, MAX_SEEDS, 1),
                                      ("batch_size", "batch size B", compute.MIN_BATCH, compute.MAX_BATCH, 1)):
        w = pn.widgets.EditableIntSlider(label=label, start=lo, end=hi, step=step, value=getattr(ex, name))
        w.param.watch(lambda e, n=name: set_held(ex, n, e.new), "value_throttled")
        ex.param.watch(lambda e, w=w: setattr(w, "value", e.new), name)
        ints.append(w)
    quantity = pn.widgets.Select.from_param(ex.param.quantity, label="Phase diagram shows",
                                            options={v: k for k, v in QUANTITIES.items()})
    preset = pn.widgets.Select(label="Presets", options=["(choose a preset)", *compute.PRESETS])

    def on_preset(e):
        if e.new in compute.PRESETS:
            ex.apply_preset(e.new)
            preset.value = "(choose a preset)"

    preset.param.watch(on_preset, "value")
    snap = pn.widgets.Button(label="Snap to critical σ_w²", color="primary")
    snap.on_click(ex.snap_to_critical)
    bn = pn.widgets.Checkbox.from_param(ex.param.batchnorm, label="batch norm (Yang et al. 2019)")
    return [preset, phi, expr, sliders["sigma_w2"], sliders["sigma_b2"], snap, sliders["dropout"], *ints[:3],
            pn.widgets.Checkbox.from_param(ex.param.auto_simulate, label="simulate automatically when cheap"),
            quantity, bn, ints[3]]


def create_app(explorer: Explorer | None = None, sync_url: bool = True) -> pn.template.BaseTemplate:
    """The whole page for one session."""
    ex = explorer or Explorer()
    error = plain_alert(ex.param.error, "danger", name="error")
    message = plain_alert(ex.param.message, "info", name="message")
    # Bokeh Divs whose text is replaced in place: a Panel HTML pane also re-sets its stylesheets
    # (models), which makes Bokeh re-walk the whole document on every update (~80 ms)
    write = DocumentWriter(pn.state.curdoc)
    readout_div = Div(text=readout_html(ex), width=360, name="readout")
    readout = pn.pane.Bokeh(readout_div)
    ex.param.watch(lambda *_: write("readout", lambda: setattr(readout_div, "text", readout_html(ex))),
                   "theory_version")
    views = live_views(ex, write)
    run = pn.widgets.Button(label="Run simulation", color="success", width=160)
    run.on_click(ex.run_simulation_async)
    bn_run = pn.widgets.Button(label="Run simulation", color="success", width=160)
    bn_run.on_click(ex.run_simulation_async)
    spinner = pn.indicators.LoadingSpinner(value=True, size=25, visible=ex.param.running, label="simulating")
    def sim_text(*_):
        return ("" if ex.sim is not None else "<i>Simulation not shown: press Run (it reruns by itself when "
                f"width × depth × seeds ≤ {compute.AUTO_SIM_WORK:,}).</i>")

    sim_div = Div(text=sim_text(), width=520)
    sim_note = pn.pane.Bokeh(sim_div)
    ex.param.watch(lambda *_: write("sim_note", lambda: setattr(sim_div, "text", sim_text())),
                   ["sim_version", "theory_version"])
    clear = pn.widgets.Button(label="Clear data", width=110)
    clear.on_click(ex.clear_training_points)
    phase_card = pn.Column(
        "### Phase diagram", phase_pane := phase_view(ex, write), downloads(ex, "phase", "phase_diagram"),
        pn.pane.Markdown("Grey cells: q* diverges there (no finite fixed point, e.g. ReLU with σ_w² > 2)."),
        teaching_card(teaching.PHASE))
    traj_card = pn.Column(
        "### Depth trajectories", pn.Row(run, spinner, sim_note),
        pn.Row(pn.Column(pn.pane.Bokeh(views["q"].figure), downloads(ex, "q", "q_trajectory")),
               pn.Column(pn.pane.Bokeh(views["c"].figure), downloads(ex, "c", "c_trajectory"))),
        teaching_card(teaching.TRAJECTORIES))
    maps_card = pn.Column(
        "### Iterated maps",
        pn.Row(pn.Column(pn.pane.Bokeh(views["cmap"].figure), downloads(ex, "cmap", "correlation_map")),
               pn.Column(pn.pane.Bokeh(views["qmap"].figure), downloads(ex, "qmap", "length_map"))),
        teaching_card(teaching.MAPS))
    fs_card = pn.Column(
        "### Function space (NNGP)", pn.pane.Bokeh(views["functions"].figure),
        pn.Row(downloads(ex, "functions", "nngp_functions"), clear), teaching_card(teaching.FUNCTIONS))
    bn_card = pn.Column(
        "### Batch norm (Yang et al. 2019)", pn.Row(bn_run, pn.pane.Markdown(
            "*Press Run for finite networks (width ≤ 512, ≤ 8 seeds); slider moves redraw the theory only.*")),
        pn.Row(pn.Column(pn.pane.Bokeh(views["bn_lambda"].figure), downloads(ex, "bn_lambda", "batchnorm_lambda")),
               pn.Column(pn.pane.Bokeh(views["bn_grad"].figure), downloads(ex, "bn_grad", "batchnorm_gradient"))),
        teaching_card(teaching.BATCHNORM))
    readout_card = pn.Column("### Readout", readout, teaching_card(teaching.READOUT), width=380)
    main = pn.Column(
        error, message,
        pn.Row(phase_card, readout_card),
        tabs := pn.Tabs(("Depth trajectories", traj_card), ("Iterated maps", maps_card), ("Function space", fs_card),
                        ("Batch norm", bn_card), dynamic=False),
    )
    tabs.param.watch(lambda e: held(setattr, ex, "active_tab", e.new), "active")
    if sync_url and pn.state.location is not None:
        pn.state.location.sync(ex, URL_KEYS, on_error=lambda values: apply_link_values(ex, values))
    template = pn.template.BootstrapTemplate(
        title="sigprop: signal propagation in deep random networks", sidebar=sidebar(ex), main=[main],
        sidebar_width=330, header_background="#1f4e9c",
        # Panel's busy indicator is one global state: every event in any session toggled every
        # session's indicator (O(sessions²) work, 1.5 s per round at 20 sessions)
        busy_indicator=None)
    template.explorer = ex
    template.views = views
    template.explorer_phase_pane = phase_pane
    return template
