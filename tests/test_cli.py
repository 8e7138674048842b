"""The command line: thin over the API, valid JSON, one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

import sigprop as sp
from sigprop.cli import main


def no_constants(name):
    raise AssertionError(f"invalid JSON token {name}")


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out, parse_constant=no_constants)


def test_point_json_keys_and_values(capsys):
    out = run_json(capsys, ["point", "--phi", "tanh", "--sigma-w2", "2.5", "--sigma-b2", "0.1", "--json"])
    assert {"q_star", "c_star", "chi_1", "chi_c", "xi_q", "xi_c", "phase"} <= set(out)
    r = sp.point("tanh", 2.5, 0.1)
    assert out["c_star"] == r.c_star and out["phase"] == "chaotic"


def test_infinite_depth_scale_is_null(capsys):
    out = run_json(capsys, ["point", "--phi", "relu", "--sigma-w2", "2", "--sigma-b2", "0", "--json"])
    assert out["xi_c"] is None and out["xi_q"] is None and out["phase"] == "critical"


def test_critical_json(capsys):
    out = run_json(capsys, ["critical", "--phi", "tanh", "--sigma-b2", "0.05", "--json"])
    assert round(out["sigma_w2"], 4) == 1.7610 and out["q_star"] > 0
    out = run_json(capsys, ["critical", "--phi", "tanh", "--sigma-b2", "0.05", "--dropout", "0.9", "--json"])
    assert out["xi_c"] > 1 and out["sigma_w2"] > 0


def test_custom_expression_and_text_output(capsys):
    assert main(["point", "--phi", "maximum(x, 0.1*x)", "--sigma-w2", "1.5", "--sigma-b2", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "χ₁" in text and "phase = ordered" in text


def test_phase_writes_every_grid(tmp_path, capsys):
    path = tmp_path / "d.npz"
    argv = ["phase", "--phi", "tanh", "--sigma-w2", "1:4:7", "--sigma-b2", "0:0.3:5", "--out", str(path)]
    assert main(argv) == 0
    data = np.load(path)
    for key in (
        "sigma_w2",
        "sigma_b2",
        "q_star",
        "c_star",
        "chi_1",
        "chi_c",
        "xi_q",
        "xi_c",
        "phase",
        "status",
    ):
        assert key in data
    assert data["chi_1"].shape == (5, 7) and np.allclose(data["sigma_w2"], np.linspace(1, 4, 7))


@pytest.mark.parametrize(
    "argv",
    [
        ["point", "--phi", "nope", "--sigma-w2", "1", "--sigma-b2", "0"],
        ["point", "--phi", "tanh", "--sigma-w2", "0", "--sigma-b2", "0"],
        ["point", "--phi", "tanh", "--sigma-w2", "1", "--sigma-b2", "0", "--dropout", "1.2"],
        ["point", "--phi", "relu", "--sigma-w2", "3", "--sigma-b2", "0.1"],
        ["point", "--phi", "x.__class__", "--sigma-w2", "1", "--sigma-b2", "0"],
        ["critical", "--phi", "relu", "--sigma-b2", "0.3"],
        ["phase", "--phi", "tanh", "--sigma-w2", "1:4", "--sigma-b2", "0:1:3", "--out", "x.npz"],
        ["point", "--phi", "tanh", "--sigma-w2", "abc", "--sigma-b2", "0"],
        ["batchnorm", "--phi", "relu", "--batch-size", "3"],
        ["batchnorm", "--phi", "nope", "--batch-size", "8"],
        ["serve", "--port", "0"],
        ["serve", "--num-procs", "0"],
    ],
)
def test_bad_input_exits_nonzero_with_one_line(argv):
    proc = subprocess.run([sys.executable, "-m", "sigprop.cli", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("sigprop: error:")


def test_kernel_json_matches_relu_closed_form(tmp_path, capsys):
    """`sigprop kernel`: NNGP and NTK as nested lists; ReLU at He init against the arc-cosine
    recursion computed here (K⁰ = σ_w² x·x'/d, K^l = σ_w² k(K^{l-1}), Θ^l = K^l + σ_w² k̇ Θ^{l-1})."""
    from sigprop.closed_forms import relu_kernel

    X = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    path = tmp_path / "x.csv"
    np.savetxt(path, X, delimiter=",")
    out = run_json(
        capsys,
        [
            "kernel",
            "--phi",
            "relu",
            "--sigma-w2",
            "2",
            "--sigma-b2",
            "0.1",
            "--depth",
            "3",
            "--inputs",
            str(path),
            "--json",
        ],
    )
    K = 2.0 * X @ X.T / 2 + 0.1
    T = K.copy()
    for _ in range(3):
        q = np.diag(K)
        c = np.clip(K / np.sqrt(np.outer(q, q)), -1, 1)
        k, kdot = relu_kernel(q[:, None], q[None, :], c)
        K_new = 2.0 * k + 0.1
        T = K_new + 2.0 * kdot * T
        K = K_new
    assert np.allclose(out["nngp"], K, rtol=1e-10) and np.allclose(out["ntk"], T, rtol=1e-8)


def test_kernel_bad_csv_is_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,a\n")
    argv = ["kernel", "--phi", "tanh", "--sigma-w2", "1", "--sigma-b2", "0", "--depth", "2", "--inputs", str(bad)]
    proc = subprocess.run([sys.executable, "-m", "sigprop.cli", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("sigprop: error:") and "Traceback" not in proc.stderr


def test_simulate_json_reports_simulation_and_theory(capsys):
    """`sigprop simulate --json`: the issue's keys, per layer, with the theory beside the simulation."""
    argv = [
        "simulate",
        "--phi",
        "tanh",
        "--sigma-w2",
        "2.5",
        "--sigma-b2",
        "0.1",
        "--width",
        "512",
        "--depth",
        "5",
        "--seeds",
        "16",
        "--json",
    ]
    out = run_json(capsys, argv)
    for key in ("layers", "q_mean", "q_se", "c_mean", "c_se", "q_theory", "c_theory"):
        assert key in out
    assert out["layers"] == list(range(6)) and len(out["c_theory"]) == 6
    assert out["c_mean"][0] == pytest.approx(0.5, abs=1e-12) and out["q_mean"][0][0] == pytest.approx(1.0)
    t = sp.trajectories("tanh", 2.5, 0.1, depth=5, q0=1.0, c0=0.5)
    assert np.allclose(out["c_theory"], t.c, rtol=1e-10)


def test_batchnorm_json(capsys):
    """`sigprop batchnorm`: λ, its depth scale, q*, c*; linear φ has λ = (B − 2)/(B − 3) exactly."""
    out = run_json(capsys, ["batchnorm", "--phi", "linear", "--batch-size", "8", "--json"])
    assert {"lambda", "xi", "q_star", "c_star"} <= set(out)
    assert out["lambda"] == pytest.approx(6 / 5, rel=1e-12)
    assert out["xi"] == pytest.approx(1 / np.log(6 / 5), rel=1e-12)
    assert out["q_star"] == pytest.approx(1.0) and out["c_star"] == pytest.approx(-1 / 7)
    assert out["lambda_l"] == pytest.approx(7 / 9, rel=1e-11) and out["lambda_m"] == pytest.approx(7 / 9, rel=1e-11)
    assert out["xi_forward"] == pytest.approx(-1 / np.log(7 / 9), rel=1e-9)
    r = sp.batchnorm_point("tanh", 16)
    out = run_json(capsys, ["batchnorm", "--phi", "tanh", "--batch-size", "16", "--json"])
    assert out["lambda"] == r.lambda_ and out["c_star"] == r.c_star


def test_recommend_json(capsys):
    """`sigprop recommend`: one JSON object with the documented keys; at exact criticality ξ_c and the
    maximum depth 6ξ_c are null (unbounded), never Infinity; the pair is sigprop's critical point."""
    out = run_json(capsys, ["recommend", "--phi", "tanh", "--depth", "100", "--json"])
    for key in ("sigma_w2", "sigma_b2", "xi_c", "xi_q", "max_depth", "depth", "trainable", "sigma_w2_range",
                "mu1", "mu2", "isometry_ratio", "snippets", "jacobian", "weights"):
        assert key in out
    assert out["sigma_w2"] == sp.critical_point("tanh", 0.05).sigma_w2 and out["sigma_b2"] == 0.05
    assert out["xi_c"] is None and out["max_depth"] is None and out["trainable"] is True
    assert out["sigma_w2_range"][0] < out["sigma_w2"] < out["sigma_w2_range"][1]
    assert set(out["snippets"]) == {"torch", "jax"}
    out = run_json(capsys, ["recommend", "--phi", "relu", "--depth", "50", "--json"])
    assert (out["sigma_w2"], out["sigma_b2"], out["isometry_ratio"]) == (2.0, 0.0, 2.0)
    assert out["sigma_w2_range"][0] == pytest.approx(2 * np.exp(-6 / 50), rel=1e-10)
    out = run_json(capsys, ["recommend", "--phi", "tanh", "--depth", "100", "--dropout", "0.9", "--json"])
    assert out["trainable"] is False and out["sigma_w2_range"] is None and 27 < out["max_depth"] < 29


def test_recommend_text(capsys):
    assert main(["recommend", "--phi", "tanh", "--depth", "100"]) == 0
    text = capsys.readouterr().out
    assert "unbounded by this criterion" in text and "depth 100 is trainable" in text
    assert "init_linear_(model" in text and "init_linear(model" in text  # both snippets
    assert main(["recommend", "--phi", "tanh", "--depth", "100", "--dropout", "0.9", "--no-snippets"]) == 0
    text = capsys.readouterr().out
    assert "NOT trainable" in text and "import" not in text


@pytest.mark.parametrize(
    "argv",
    [
        ["recommend", "--phi", "nope", "--depth", "10"],
        ["recommend", "--phi", "tanh", "--depth", "0"],
        ["recommend", "--phi", "tanh", "--depth", "1.5"],
        ["recommend", "--phi", "tanh", "--depth", "10", "--dropout", "0"],
        ["recommend", "--phi", "tanh", "--depth", "10", "--dropout", "1.5"],
        ["recommend", "--phi", "tanh", "--depth", "10", "--sigma-b2", "-0.1"],
        ["recommend", "--phi", "relu", "--depth", "10", "--sigma-b2", "0.1"],
        ["recommend", "--phi", "gelu", "--depth", "10", "--sigma-b2", "0.05"],
    ],
)
def test_recommend_bad_input_is_one_line(argv):
    proc = subprocess.run([sys.executable, "-m", "sigprop.cli", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("sigprop: error:")


def test_trainability_writes_figure_and_data_and_resumes(tmp_path, capsys):
    """`sigprop trainability` (in process, tiny): PNG, npz and the CSV columns of the issue; a rerun
    loads every cell from the chunk files; other settings in the same directory are refused."""
    argv = ["trainability", "--depths", "2,4", "--sigma-w2", "1:3:3", "--width", "16", "--steps", "10", "--batch", "32",
            "--scheduler", "none", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "6 networks (6 trained now, 0 resumed)" in out and "cells with L ≤ 6ξ_c" in out
    for ext in ("png", "npz", "csv"):
        assert (tmp_path / f"trainability.{ext}").stat().st_size > 0
    lines = (tmp_path / "trainability.csv").read_text().splitlines()
    assert lines[0] == "depth,sigma_w2,train_accuracy,loss,six_xi_c" and len(lines) == 7
    assert main(argv) == 0
    assert "6 networks (0 trained now, 6 resumed)" in capsys.readouterr().out
    assert main([*argv[:-2], "--steps", "11", "--out", str(tmp_path)]) == 2
    assert "steps: 10 → 11" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [
        ["--depths", "0,10"],
        ["--depths", "10,a"],
        ["--sigma-w2", "0:2:3"],
        ["--width", "2"],
        ["--steps", "0"],
        ["--lr", "-1"],
        ["--batch", "0"],
        ["--threshold", "2"],
        ["--chunks", "0"],
    ],
)
def test_trainability_bad_input_is_one_line(extra, tmp_path):
    argv = ["trainability", "--scheduler", "none", "--out", str(tmp_path / "out"), *extra]
    proc = subprocess.run([sys.executable, "-m", "sigprop.cli", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("sigprop: error:")
