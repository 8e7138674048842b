"""Every bad input gets a clear one-line error of a SigpropError subclass, never a NaN or a crash.

Each test names the mistake and checks the exception class and that the message is one line and
says what is wrong (issue 12, "Every answer, or a clear error").
"""

from __future__ import annotations

import pytest

from sigprop.errors import InvalidParameterError, ResourceLimitError, SigpropError, UnknownNonlinearityError
from sigprop.nonlinearities import MAX_POLAR_NODES, nonlinearity, polar_nodes


def one_line(err: pytest.ExceptionInfo, *fragments: str) -> str:
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- custom φ that no Gaussian expectation can use -------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [("0/0", "φ(0) = nan"), ("sqrt(x)", "φ(-1e-12) = nan"), ("log(x)", "φ(0) = -inf"), ("1/x", "φ(0) = inf"),
     ("abs(x)**0.5", "φ'(0) = inf")],
)
def test_phi_not_finite_on_the_real_line_is_refused_with_the_point(text: str, where: str) -> None:
    with pytest.raises(UnknownNonlinearityError) as err:
        nonlinearity(text)
    one_line(err, "is not finite on the Gaussian's support", where)


@pytest.mark.parametrize(
    ("text", "pole"), [("tan(x)", "-1.5708"), ("1/(x-0.3)**2", "0.3"), ("where(x > 0, 1/x, 0)", "x = 0 ")]
)
def test_phi_with_a_pole_between_grid_points_is_refused(text: str, pole: str) -> None:
    with pytest.raises(UnknownNonlinearityError) as err:
        nonlinearity(text)
    one_line(err, "has a pole near", pole, "E[φ(√q z)²] is infinite")


@pytest.mark.parametrize("text", ["heaviside(x - 1)", "1/(1 + (x - 0.3)**2)", "where(x > 0, sqrt(x + 1e-3), 0)"])
def test_jumps_roots_and_bounded_peaks_are_not_mistaken_for_poles(text: str) -> None:
    assert nonlinearity(text).name


def test_many_kinks_are_refused_by_cost_before_any_integral() -> None:
    with pytest.raises(ResourceLimitError) as err:
        nonlinearity("abs(sin(0.5*x))")  # 19 kinks: 8.4e6 polar nodes per correlation, 25 s and 1.3 GB a point
    one_line(err, "too many kinks: 19", "at most")
    with pytest.raises(ResourceLimitError) as err:
        nonlinearity("abs(sin(10*x))")
    one_line(err, "too many kinks: at least 64")


def test_a_few_kinks_stay_within_the_node_budget() -> None:
    phi = nonlinearity("abs(sin(0.25*x))")  # 9 kinks
    assert len(phi.kinks) == 9 and polar_nodes(phi.kinks) <= MAX_POLAR_NODES


# --- parser messages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("1e400", "number '1e400' is too large for float64"), ("-1e400", "number '1e400' is too large"),
     ("1j", "complex number literal '1j'"), ("True", "boolean literal 'True'"),
     ("1" + "0" * 310, "(311 digits) is too large for float64")],
)
def test_literals_get_a_precise_message_not_unknown_nonlinearity(text: str, fragment: str) -> None:
    with pytest.raises(UnknownNonlinearityError) as err:
        nonlinearity(text)
    message = one_line(err, fragment)
    assert "known:" not in message and len(message) < 200


def test_long_user_text_is_never_echoed_in_full() -> None:
    with pytest.raises(UnknownNonlinearityError) as err:
        nonlinearity("a" * 300)
    assert len(one_line(err, "unknown nonlinearity", "...")) < 250


def test_registry_parameter_must_be_a_number() -> None:
    with pytest.raises(InvalidParameterError) as err:
        nonlinearity("leaky_relu", alpha="a")
    one_line(err, "alpha must be a real number, got 'a'")
    assert isinstance(err.value, SigpropError)


# --- command line: status 2 and one line, never a traceback --------------------------------


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    from sigprop.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_simulate_with_one_seed_shows_no_standard_error_instead_of_crashing(capsys) -> None:
    code, out, err = run_cli(capsys, "simulate", "--phi", "tanh", "--sigma-w2", "2.5", "--sigma-b2", "0.1",
                             "--width", "16", "--depth", "2", "--seeds", "1")
    assert code == 0 and not err
    assert "—" in out and "one seed, so no standard error" in out


def test_cli_json_is_strict_with_null_for_non_finite_numbers() -> None:
    import json
    import math

    from sigprop.cli import _dumps

    text = _dumps({"lambda": math.nan, "xi": [1.0, math.inf], "nested": {"c": -math.inf}})
    assert json.loads(text) == {"lambda": None, "xi": [1.0, None], "nested": {"c": None}}


def test_cli_batchnorm_with_a_nan_phi_exits_2_with_one_line(capsys) -> None:
    code, out, err = run_cli(capsys, "batchnorm", "--phi", "0/0", "--batch-size", "8", "--json")
    assert code == 2 and not out
    assert err.count("\n") == 1 and "is not finite on the Gaussian's support" in err


def test_cli_trainability_refuses_a_bad_scheduler_before_writing_anything(capsys, tmp_path) -> None:
    out_dir = tmp_path / "sweep"
    code, _, err = run_cli(capsys, "trainability", "--scheduler", "bogus", "--out", str(out_dir))
    assert code == 2 and err.count("\n") == 1 and "scheduler must be" in err and "'bogus'" in err
    assert not out_dir.exists()


PHASE = ("phase", "--phi", "tanh", "--sigma-w2", "1:2:2", "--sigma-b2", "0:1:2")


def test_cli_phase_writes_exactly_the_path_given(capsys, tmp_path) -> None:
    import numpy as np

    path = tmp_path / "grid"  # no .npz: np.savez(name) would have written grid.npz
    code, out, _ = run_cli(capsys, *PHASE, "--out", str(path))
    assert code == 0 and f"wrote {path}:" in out
    assert path.is_file() and not (tmp_path / "grid.npz").exists()
    assert np.load(path)["chi_1"].shape == (2, 2)


@pytest.mark.parametrize("kind", ["directory", "trailing slash"])
def test_cli_phase_refuses_a_directory_as_output(capsys, tmp_path, kind: str) -> None:
    target = str(tmp_path) if kind == "directory" else str(tmp_path / "new") + "/"
    code, out, err = run_cli(capsys, *PHASE, "--out", target)
    assert code == 2 and not out and err.count("\n") == 1 and "is a directory" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_phase_reports_a_full_disk(capsys) -> None:
    import os

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    code, out, err = run_cli(capsys, *PHASE, "--out", "/dev/full")
    assert code == 2 and not out and "cannot write /dev/full: No space left on device" in err


# --- simulation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"seed": 2**70}, "seed must be an integer in [0, 2⁶³ − 1]"), ({"seed": True}, "seed must be an integer"),
     ({"n_inputs": 0}, "n_inputs must be an integer in [1, 64], got 0"), ({"c0": "a"}, "c0 must be a real number")],
)
def test_simulate_refuses_bad_arguments_with_one_line(kwargs: dict, fragment: str) -> None:
    from sigprop.simulation import simulate

    with pytest.raises(InvalidParameterError) as err:
        simulate("tanh", 1.0, 0.1, 8, 2, 1, **kwargs)
    one_line(err, fragment)


def test_simulate_says_from_which_layer_a_diverging_network_overflows() -> None:
    import numpy as np

    from sigprop.simulation import overflow_note

    q = np.ones((2, 6, 2))
    q[:, 4:] = np.inf
    theory = np.ones((6, 2))
    assert overflow_note(q, theory).startswith("the simulated q^l overflows float64 from layer 4 on")
    assert overflow_note(np.ones((2, 6, 2)), theory) == ""


@pytest.mark.slow
def test_simulate_relu_beyond_he_init_overflows_with_a_note_not_silent_nulls() -> None:
    from sigprop.simulation import simulate

    r = simulate("relu", 4.0, 0.1, 8, 1100, 2)  # q doubles per layer: float64 overflows near layer 1020
    assert "overflows float64 from layer" in r.note
    d = r.to_dict()
    assert d["note"] == r.note and d["q_theory"][-1][0] is None and d["q_theory"][10][0] is not None


# --- sweep storage ------------------------------------------------------------------------------


def _square(chunk):
    import numpy as np

    cells = np.asarray(chunk.cells, dtype=np.float64)
    return {"value": cells**2}


def _sweep(tmp_path, manifest=None):
    from sigprop import sweep as sw

    chunks = sw.split_chunks(0, range(6), 2)
    return sw.run_sweep(_square, chunks, ("value",), 6, out_dir=tmp_path, manifest=manifest or {"n": 6})


def _first_chunk(tmp_path):
    return sorted((tmp_path / "chunks").glob("chunk-*.npz"))[0]


def _rewrite(path, **changes):
    import numpy as np

    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files} | changes
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong length", "NaN", "cells out of range"])
def test_a_bad_chunk_file_is_set_aside_and_its_cells_computed_again(tmp_path, damage: str) -> None:
    import numpy as np

    _sweep(tmp_path)
    path = _first_chunk(tmp_path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:50])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "wrong length":
        _rewrite(path, value=np.array([7.0]))  # one value for three cells: once silently broadcast
    elif damage == "NaN":
        _rewrite(path, value=np.full(3, np.nan))
    else:
        _rewrite(path, cells=np.array([0, 1, 99]))
    with pytest.warns(UserWarning, match="is bad") as record:
        outcome = _sweep(tmp_path)
    assert "\n" not in str(record[0].message)
    assert outcome.loaded_cells == 3 and outcome.computed_cells == 3
    np.testing.assert_array_equal(outcome.fields["value"], np.arange(6.0) ** 2)
    assert path.with_name(path.name + ".bad").exists()


@pytest.mark.parametrize("text", ["[1, 2, 3]", "null", "{not json"])
def test_a_manifest_that_is_not_a_sweep_manifest_gets_the_delete_it_message(tmp_path, text: str) -> None:
    from sigprop import sweep as sw

    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(sw.SweepMismatchError) as err:
        _sweep(tmp_path)
    one_line(err, "delete it or choose another directory")


def test_a_chunk_of_another_sweep_is_refused_not_replaced(tmp_path) -> None:
    import numpy as np

    from sigprop import sweep as sw

    _sweep(tmp_path)
    path = _first_chunk(tmp_path)
    _rewrite(path, manifest_hash=np.array("0" * 64))
    with pytest.raises(sw.SweepMismatchError) as err:
        _sweep(tmp_path)
    one_line(err, "belongs to another sweep", "delete it or choose another directory")
    assert path.exists()


@pytest.mark.parametrize("scheduler", ["bogus", "tcp://", "host:99999", "a b:1", "", 3])
def test_a_malformed_scheduler_is_refused_before_the_directory_is_made(tmp_path, scheduler) -> None:
    from sigprop import sweep as sw

    with pytest.raises(InvalidParameterError) as err:
        sw.run_sweep(_square, sw.split_chunks(0, range(2), 1), ("value",), 2, out_dir=tmp_path / "d",
                     manifest={"n": 2}, scheduler=scheduler)
    one_line(err, "scheduler must be")
    assert not (tmp_path / "d").exists()


# --- memory and time estimated before the work -------------------------------------------------


def test_prior_samples_refuse_a_draw_that_would_not_fit_in_memory() -> None:
    import numpy as np

    from sigprop.gp import prior_samples

    with pytest.raises(ResourceLimitError) as err:
        prior_samples(np.eye(2), 10**9)  # once grew to 24 GB and was killed
    one_line(err, "GiB at once", "draw fewer samples")


def test_cli_kernel_refuses_thousands_of_inputs_with_an_estimate(capsys, tmp_path) -> None:
    import numpy as np

    path = tmp_path / "inputs.csv"
    np.savetxt(path, np.random.default_rng(0).normal(size=(3000, 3)), delimiter=",")
    code, out, err = run_cli(capsys, "kernel", "--phi", "tanh", "--sigma-w2", "1.5", "--sigma-b2", "0.1",
                             "--depth", "30", "--inputs", str(path))
    assert code == 2 and not out and err.count("\n") == 1
    assert "3000 inputs at depth 30 would take about" in err and "4498500 pairs" in err


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"c0": "a"}, "c⁰ must be a real number, got 'a'"), ({"c0": 1.5}, "c⁰ must be a finite number in [-1, 1]"),
     ({"q0": True}, "q⁰ must be a real number, got True"), ({"quadrature": "x"}, "quadrature must be a")],
)
def test_trajectories_refuse_bad_starting_points(kwargs: dict, fragment: str) -> None:
    from sigprop.trajectories import trajectories

    with pytest.raises(InvalidParameterError) as err:
        trajectories("tanh", 1.0, 0.1, 3, **kwargs)
    one_line(err, fragment)


# --- API entry points raise SigpropError subclasses, never raw exceptions ------------------------


def _point_with_string_quadrature():
    import sigprop as sp

    return sp.point("tanh", 1.0, 0.1, quadrature="x")


def _quadrature(**kwargs):
    from sigprop.quadrature import Quadrature

    return Quadrature(**kwargs)


def _phase_with_string_axes():
    from sigprop.phase_diagram import phase_diagram

    return phase_diagram("tanh", "1,2", "0,1")


def _critical_line_with_string_q():
    from sigprop.critical import critical_line

    return critical_line("tanh", q_star="a")


def _point_with_bool():
    import sigprop as sp

    return sp.point("tanh", True, 0.1)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [(_point_with_string_quadrature, "quadrature must be a sigprop.quadrature.Quadrature, got 'x'"),
     (lambda: _quadrature(hermite_degree=0), "hermite_degree must be an even integer in [8, 600]"),
     (lambda: _quadrature(hermite_degree="a"), "hermite_degree must be an integer, got 'a'"),
     (lambda: _quadrature(panel_nodes=True), "panel_nodes must be an integer, got True"),
     (_phase_with_string_axes, "sigma_w2 must be a non-empty array of real numbers, got '1,2'"),
     (_critical_line_with_string_q, "q* must be a non-empty array of real numbers, got 'a'"),
     (_point_with_bool, "σ_w² must be a real number, got True")],
    ids=["point-quadrature", "quadrature-0", "quadrature-str", "quadrature-bool", "phase-axes", "critical-line",
         "point-bool"],
)
def test_api_entry_points_raise_invalid_parameter_errors(call, fragment: str) -> None:
    with pytest.raises(InvalidParameterError) as err:
        call()
    one_line(err, fragment)
    assert isinstance(err.value, ValueError) and isinstance(err.value, TypeError)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(("point", "--phi", "sqrt(x)", "--sigma-w2", "1", "--sigma-b2", "0.1"), "is not finite on the Gaussian's support"),
     (("point", "--phi", "1/x", "--sigma-w2", "1", "--sigma-b2", "0.1"), "φ(0) = inf"),
     (("point", "--phi", "tan(x)", "--sigma-w2", "1", "--sigma-b2", "0.1"), "has a pole near"),
     (("phase", "--phi", "0/0", "--sigma-w2", "1:2:2", "--sigma-b2", "0:1:2", "--out", "never.npz"), "φ(0) = nan"),
     (("simulate", "--phi", "0/0", "--sigma-w2", "1", "--sigma-b2", "0.1", "--width", "8", "--depth", "2",
       "--seeds", "2", "--json"), "φ(0) = nan"),
     (("point", "--phi", "abs(sin(10*x))", "--sigma-w2", "1", "--sigma-b2", "0.1"), "too many kinks")],
    ids=["sqrt", "1/x", "tan", "phase-nan", "simulate-nan", "kinks"],
)
def test_cli_refuses_a_phi_no_expectation_can_use_instead_of_answering_nan(capsys, tmp_path, monkeypatch, argv,
                                                                           fragment: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and not out and err.count("\n") == 1 and fragment in err
    assert "length map diverges" not in err and list(tmp_path.iterdir()) == []


def test_cli_kernel_quotes_at_most_a_line_of_a_bad_csv(capsys, tmp_path) -> None:
    path = tmp_path / "inputs.csv"
    path.write_text("1," + "a" * 500 + "\n")
    code, out, err = run_cli(capsys, "kernel", "--phi", "tanh", "--sigma-w2", "1", "--sigma-b2", "0.1",
                             "--depth", "2", "--inputs", str(path))
    assert code == 2 and not out and err.count("\n") == 1
    assert "cannot read" in err and "as a CSV of numbers" in err and len(err) < 200 + len(str(path))
