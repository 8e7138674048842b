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
    ],
)
def test_bad_input_exits_nonzero_with_one_line(argv):
    proc = subprocess.run([sys.executable, "-m", "sigprop.cli", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("sigprop: error:")
