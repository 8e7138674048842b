"""Figures and data for download: PNG and SVG (matplotlib, publication style) and CSV.

Each view's numbers come from :mod:`app.compute`; the exported figure is drawn from the same
numbers, so what a lecturer downloads is what the page shows.
"""

from __future__ import annotations

import csv
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

FORMATS = ("png", "svg")


def to_csv(columns: dict[str, np.ndarray]) -> bytes:
    """Columns of equal length as CSV with a header row (NaN and ±inf written as such)."""
    names = list(columns)
    data = [np.ravel(np.asarray(columns[n], dtype=float)) for n in names]
    if len({len(d) for d in data}) > 1:
        raise ValueError("CSV columns must have equal lengths")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for row in zip(*data, strict=True):
        w.writerow([repr(float(x)) for x in row])
    return buf.getvalue().encode()


def to_image(fig, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=200 if fmt == "png" else None, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _axes(title: str, xlabel: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def phase_figure(w, b, values, label: str, curve=None, current=None):
    fig, ax = _axes(label, "σ_w²", "σ_b²")
    z = np.where(np.isfinite(values), values, np.nan)
    mesh = ax.pcolormesh(w, b, z, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=label)
    if curve is not None and len(curve[0]):
        order = np.argsort(curve[1])
        ax.plot(np.asarray(curve[0])[order], np.asarray(curve[1])[order], "k-", lw=1.5, label="critical")
    if current is not None:
        ax.plot(*current, "o", mfc="white", mec="black", ms=8, label="current point")
    ax.set_xlim(w[0], w[-1])
    ax.set_ylim(b[0], b[-1])
    return fig


def trajectory_figure(theory: dict, sim: dict | None, which: str):
    label = "q^l" if which == "q" else "c^l"
    fig, ax = _axes(f"{label} against depth", "layer l", label)
    ax.plot(theory["layer"], theory[which], color="#1f4e9c", lw=2, label="mean field")
    if sim is not None:
        ax.fill_between(sim["layer"], sim[f"{which}_lo"], sim[f"{which}_hi"], color="#d9480f", alpha=0.2,
                        label="5–95 % over seeds")
        ax.errorbar(sim["layer"], sim[f"{which}_mean"], yerr=2 * sim[f"{which}_se"], fmt="o", ms=3,
                    color="#d9480f", label=f"width {sim['width']}, {sim['seeds']} seeds (±2 SE)")
    ax.legend(fontsize=8)
    return fig


def cobweb_figure(x, fx, path, xlabel: str, title: str):
    fig, ax = _axes(title, xlabel, f"map({xlabel})")
    ax.plot([x[0], x[-1]], [x[0], x[-1]], "--", color="#888888", label="identity")
    ax.plot(x, fx, color="#1f4e9c", lw=2, label="map")
    ax.plot(*path, color="#d9480f", lw=1, label="iteration")
    ax.legend(fontsize=8)
    return fig


def function_figure(fs: dict, depth: int):
    fig, ax = _axes(f"NNGP on the unit circle, depth {depth}", "θ", "f(θ)")
    theta = fs["theta"]
    if "post_mean" in fs:
        m, sd = fs["post_mean"], fs["post_sd"]
        ax.fill_between(theta, m - 2 * sd, m + 2 * sd, color="#9ec5fe", alpha=0.5, label="posterior ±2 sd")
        for f in fs["post_samples"]:
            ax.plot(theta, f, color="#6c757d", lw=0.8)
        ax.plot(theta, m, color="#1f4e9c", lw=2, label="posterior mean")
        ax.plot(fs["train_theta"], fs["train_y"], "ko", label="data")
        ax.legend(fontsize=8)
    else:
        for f in fs["samples"]:
            ax.plot(theta, f, lw=1.2)
    return fig


def batchnorm_lambda_figure(bn: dict):
    fig, ax = _axes(f"Batch norm: gradient growth per layer, φ = {bn['phi']}", "batch size B", "λ(φ, B)")
    ax.plot(bn["B"], bn["lambda_B"], color="#1f4e9c", lw=2, label="λ(B)")
    ax.axhline(1.0, color="#888888", ls="--", label="λ = 1 (no explosion)")
    ax.plot([bn["batch_size"]], [bn["lambda_"]], "o", mfc="white", mec="black", ms=8, label=f"B = {bn['batch_size']}")
    ax.legend(fontsize=8)
    return fig


def batchnorm_gradient_figure(bn: dict, sim: dict | None):
    fig, ax = _axes(f"Batch norm, B = {bn['batch_size']}: gradient norm against depth", "layer l",
                    "‖∂L/∂x^l‖² / ‖∂L/∂x^L‖²")
    ax.set_yscale("log")
    ax.plot(bn["layer"], bn["ratio"], color="#1f4e9c", lw=2, label=f"mean field λ^(L−l), λ = {bn['lambda_']:.4g}")
    if sim is not None and len(sim["layer"]) == len(bn["layer"]):
        ax.errorbar(sim["layer"], sim["mean"], yerr=2 * sim["se"], fmt="o", ms=3, color="#d9480f",
                    label=f"width {sim['width']}, {sim['seeds']} seeds (±2 SE)")
    ax.legend(fontsize=8)
    return fig
