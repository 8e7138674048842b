"""Command line: a thin layer over the Python API, with no maths of its own.

    sigprop point    --phi NAME --sigma-w2 X --sigma-b2 Y [--dropout RHO] [--json]
    sigprop critical --phi NAME --sigma-b2 Y [--dropout RHO] [--json]
    sigprop phase    --phi NAME --sigma-w2 A:B:N --sigma-b2 A:B:N [--dropout RHO] --out FILE.npz
    sigprop simulate --phi NAME --sigma-w2 X --sigma-b2 Y [--dropout RHO] --width N --depth L --seeds S
                     [--engine gram|dense] [--json]
    sigprop kernel   --phi NAME --sigma-w2 X --sigma-b2 Y --depth L --inputs FILE.csv [--dropout RHO] [--json]
    sigprop recommend --phi NAME --depth L [--dropout RHO] [--sigma-b2 Y] [--no-snippets] [--json]
    sigprop trainability [--depths L1,L2,...] [--sigma-w2 A:B:N] [--sigma-b2 Y] [--width N] [--steps S] [--lr ETA]
                     [--batch B] [--seed S] [--seeds R] [--threshold A] [--out DIR]
                     [--scheduler ADDRESS|local|none] [--chunks K]

Bad input exits with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

MAX_AXIS_POINTS = 2000
MAX_KERNEL_SECONDS = 120
"""Longest estimated ``sigprop kernel`` run (:func:`sigprop.kernels.estimate_seconds`) the command line starts."""


def _finite_or_none(value):
    """``value`` with every NaN or ±inf float (also inside lists and dicts) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def _dumps(obj) -> str:
    """Strict JSON (RFC 8259 has no NaN or Infinity): non-finite numbers become null."""
    return json.dumps(_finite_or_none(obj), allow_nan=False)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"sigprop: error: {message}\n")


def _axis(text: str) -> tuple[float, float, int]:
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected START:STOP:COUNT, got {text!r}")
    try:
        start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers in START:STOP:COUNT, got {text!r}") from None
    if not (math.isfinite(start) and math.isfinite(stop)) or not 1 <= count <= MAX_AXIS_POINTS:
        raise argparse.ArgumentTypeError(f"COUNT must be in [1, {MAX_AXIS_POINTS}] and bounds finite in {text!r}")
    return start, stop, count


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sigprop", description="Mean-field signal propagation in deep random networks.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(s: argparse.ArgumentParser, sigma_w2: bool) -> None:
        s.add_argument("--phi", required=True, help="registry name (tanh, relu, ...) or expression in x")
        if sigma_w2:
            s.add_argument("--sigma-w2", type=float, required=True, help="weight variance σ_w² > 0")
        s.add_argument("--sigma-b2", type=float, required=True, help="bias variance σ_b² ≥ 0")
        s.add_argument("--dropout", type=float, default=1.0, help="keep-probability ρ in (0, 1]")

    s = sub.add_parser("point", help="q*, c*, χ₁, χ_c, ξ_q, ξ_c and the phase at one point")
    common(s, sigma_w2=True)
    s.add_argument("--json", action="store_true", help="print one JSON object")

    s = sub.add_parser("critical", help="the critical σ_w² (χ₁ = 1), or the ξ_c-maximising σ_w² with dropout")
    common(s, sigma_w2=False)
    s.add_argument("--json", action="store_true", help="print one JSON object")

    s = sub.add_parser("phase", help="phase-diagram grids over (σ_w², σ_b²), written to .npz")
    s.add_argument("--phi", required=True, help="registry name or expression in x")
    s.add_argument("--sigma-w2", type=_axis, required=True, metavar="A:B:N", help="σ_w² axis")
    s.add_argument("--sigma-b2", type=_axis, required=True, metavar="A:B:N", help="σ_b² axis")
    s.add_argument("--dropout", type=float, default=1.0, help="keep-probability ρ in (0, 1]")
    s.add_argument("--out", required=True, help="output .npz file")

    s = sub.add_parser("simulate", help="finite-width networks beside the mean-field q^l and c^l")
    common(s, sigma_w2=True)
    s.add_argument("--width", type=int, required=True, help="width N of every layer")
    s.add_argument("--depth", type=int, required=True, help="number of layers L")
    s.add_argument("--seeds", type=int, required=True, help="independent networks S")
    s.add_argument("--engine", choices=("gram", "dense"), default="gram", help="exact Gram sampler or real weights")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    s = sub.add_parser("kernel", help="NNGP and NTK of a deep network for the inputs in a CSV file")
    common(s, sigma_w2=True)
    s.add_argument("--depth", type=int, required=True, help="number of hidden layers L ≥ 0")
    s.add_argument("--inputs", required=True, help="CSV file, one input per row (n × d)")
    s.add_argument("--json", action="store_true", help="print one JSON object with keys nngp and ntk")

    s = sub.add_parser("batchnorm", help="batch-norm networks: gradient growth λ per layer, its depth scale, q*, c*")
    s.add_argument("--phi", required=True, help="registry name or expression in x")
    s.add_argument("--batch-size", type=int, required=True, help="batch size B ≥ 4")
    s.add_argument("--json", action="store_true", help="print one JSON object (keys lambda, xi, q_star, c_star)")

    s = sub.add_parser("recommend", help="critical init, trainable depth, σ_w² tolerance, weights and code snippets")
    s.add_argument("--phi", required=True, help="registry name (tanh, relu, ...) or expression in x")
    s.add_argument("--depth", type=int, required=True, help="number of layers L ≥ 1")
    s.add_argument("--dropout", type=float, default=1.0, help="keep-probability ρ in (0, 1]")
    s.add_argument("--sigma-b2", type=float, default=None, help="σ_b² ≥ 0 (default: 0 for ReLU-like φ, else 0.05)")
    s.add_argument("--no-snippets", action="store_true", help="text output without the PyTorch and JAX code")
    s.add_argument("--json", action="store_true", help="print one JSON object (keys in sigprop.recommend.recommend)")

    s = sub.add_parser("trainability", help="train tanh networks on the digits over (depth, σ_w²) beside 6ξ_c")
    s.add_argument("--depths", type=_int_list, default=tuple(range(10, 101, 10)), metavar="L1,L2,...",
                   help="hidden-layer counts (default 10,20,...,100)")
    s.add_argument("--sigma-w2", type=_axis, default=(1.0, 4.0, 16), metavar="A:B:N", help="σ_w² axis (default 1:4:16)")
    s.add_argument("--sigma-b2", type=float, default=0.05, help="bias variance σ_b² ≥ 0 (default 0.05)")
    s.add_argument("--width", type=int, default=128, help="hidden width N (default 128)")
    s.add_argument("--steps", type=int, default=600, help="SGD steps (default 600)")
    s.add_argument("--lr", type=float, default=0.005, help="SGD learning rate η (default 0.005)")
    s.add_argument("--batch", type=int, default=128, help="minibatch size B (default 128)")
    s.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    s.add_argument("--seeds", type=int, default=1, help="networks (replicas) per (depth, σ_w²) (default 1)")
    s.add_argument("--threshold", type=float, default=0.5, help="train accuracy counted as trained (default 0.5)")
    s.add_argument("--out", default="trainability", help="output directory; a rerun resumes from it")
    s.add_argument("--scheduler", default="local", metavar="ADDRESS|local|none",
                   help="Dask scheduler address, 'local' (a LocalCluster, default) or 'none' (in process)")
    s.add_argument("--chunks", type=int, default=1, help="tasks per depth (default 1)")

    s = sub.add_parser("serve", help="start the dashboard (needs the app/ package and Panel)")
    s.add_argument("--port", type=int, default=5006, help="port (default 5006)")
    s.add_argument("--show", action="store_true", help="open the page in a browser")
    s.add_argument("--address", default="localhost",
                   help="interface to listen on (default localhost; 0.0.0.0 for a class, with --allow-host)")
    s.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a host name the page may be opened under (repeatable), e.g. the server's name for a "
                        "class; requests for any other name are refused (DNS-rebinding protection)")
    s.add_argument("--num-procs", type=int, default=1, help="worker processes sharing the port (large classes)")
    s.add_argument("--no-warm", action="store_true", help="skip compiling the default views before serving")
    return p


def _batchnorm(args: argparse.Namespace) -> str:
    from sigprop.batchnorm import batchnorm_point

    r = batchnorm_point(args.phi, args.batch_size)
    xi = None if math.isinf(r.xi) else r.xi
    if args.json:
        extra = {
            "lambda_cross": r.lambda_cross,
            "xi_cross": None if math.isinf(r.xi_cross) else r.xi_cross,
            "lambda_l": r.lambda_l,
            "lambda_m": r.lambda_m,
            "xi_forward": None if math.isinf(r.xi_forward) else r.xi_forward,
        }
        return _dumps({"lambda": r.lambda_, "xi": xi, "q_star": r.q_star, "c_star": r.c_star} | extra)
    return "\n".join([
        f"φ = {r.phi}, batch size B = {r.batch_size} (batch norm before φ; σ_w² drops out)",
        f"λ     = {_fmt(r.lambda_)}   (squared gradient norm grows by λ per layer, backwards)",
        f"ξ     = {_fmt(r.xi)}   (gradient depth scale 1/log λ)",
        f"q*    = {_fmt(r.q_star)}",
        f"c*    = {_fmt(r.c_star)}",
        f"λ_L, λ_M = {_fmt(r.lambda_l)}, {_fmt(r.lambda_m)}   (the batch kernel's deviation from K* shrinks by these "
        f"per layer; depth scale {_fmt(r.xi_forward)})",
        f"λ_x   = {_fmt(r.lambda_cross)}   (two different batches decorrelate by λ_x per layer; depth scale "
        f"{_fmt(r.xi_cross)})",
    ])


def _recommend(args: argparse.Namespace) -> str:
    from sigprop.recommend import format_recommendation, recommend

    r = recommend(args.phi, args.depth, args.dropout, args.sigma_b2)
    if args.json:
        return _dumps(r.to_dict())
    return format_recommendation(r, snippets=not args.no_snippets)


def _serve(args: argparse.Namespace) -> str:
    """Start the dashboard (blocks); the UI lives in the separate ``app`` package."""
    from sigprop.point import check_int

    port = check_int(args.port, "port", 1, 65535)
    procs = check_int(args.num_procs, "num-procs", 1, 64)
    try:
        from app.server import serve
    except ImportError as err:
        raise OSError(f"the dashboard needs the app package and Panel ({err}); install with pip install -e .") from err
    serve(port=port, show=args.show, num_procs=procs, address=args.address, warm=not args.no_warm,
          allow_hosts=args.allow_host)
    return ""


def _fmt(x: float) -> str:
    return "inf" if isinstance(x, float) and math.isinf(x) else f"{x:.12g}"


def _point(args: argparse.Namespace) -> str:
    from sigprop.point import point

    r = point(args.phi, args.sigma_w2, args.sigma_b2, args.dropout)
    d = r.to_dict()
    if args.json:
        keys = ("q_star", "c_star", "chi_1", "chi_c", "xi_q", "xi_c", "phase")
        return _dumps({k: d[k] for k in keys} | {"slope_q": d["slope_q"], "note": d["note"]})
    lines = [
        f"φ = {r.phi}, σ_w² = {r.sigma_w2:g}, σ_b² = {r.sigma_b2:g}, ρ = {r.dropout:g}",
        f"q*    = {_fmt(r.q_star)}",
        f"c*    = {_fmt(r.c_star)}",
        f"χ₁    = {_fmt(r.chi_1)}",
        f"χ_c   = {_fmt(r.chi_c)}",
        f"ξ_q   = {_fmt(r.xi_q)}",
        f"ξ_c   = {_fmt(r.xi_c)}",
        f"phase = {r.phase}",
    ]
    return "\n".join(lines + ([f"note: {r.note}"] if r.note else []))


def _critical(args: argparse.Namespace) -> str:
    from sigprop.critical import critical_point

    r = critical_point(args.phi, args.sigma_b2, args.dropout)
    d = r.to_dict()
    if args.json:
        keys = ("sigma_w2", "q_star", "xi_c", "chi_1", "sigma_b2", "dropout", "criterion")
        return _dumps({k: d[k] for k in keys})
    head = f"φ = {r.phi}, σ_b² = {r.sigma_b2:g}, ρ = {r.dropout:g}"
    if r.dropout == 1.0:
        return f"{head}\ncritical σ_w² = {_fmt(r.sigma_w2)}  (χ₁ = 1)\nq*           = {_fmt(r.q_star)}"
    return (
        f"{head}\nno χ₁ = 1 transition with dropout; ξ_c is largest at\n"
        f"σ_w² = {_fmt(r.sigma_w2)}\nξ_c  = {_fmt(r.xi_c)}\nq*   = {_fmt(r.q_star)}"
    )


def _phase(args: argparse.Namespace) -> str:
    import numpy as np

    from sigprop.phase_diagram import phase_diagram

    _check_out_file(args.out)
    w = np.linspace(*args.sigma_w2)
    b = np.linspace(*args.sigma_b2)
    d = phase_diagram(args.phi, w, b, args.dropout)
    _write_file(args.out, lambda f: np.savez(f, phi=np.array(d.phi), dropout=np.array(d.dropout), **d.arrays()))
    diverged = int(np.sum(d.status == 1))
    return (
        f"wrote {args.out}: grids {d.chi_1.shape} (rows σ_b², columns σ_w²) of "
        "q_star, c_star, chi_1, chi_c, xi_q, xi_c" + (f"; length map diverges at {diverged} points" if diverged else "")
    )


def _check_out_file(path: str) -> None:
    """Refuse an output path that names a directory (``ro``, ``dir/``) before computing anything."""
    import os

    if not path or path.endswith(os.sep) or os.path.isdir(path):
        raise OSError(f"--out {path!r} is a directory; give a file name such as {os.path.join(path, 'phase.npz')!r}")


def _write_file(path: str, write) -> None:
    """Call ``write(file)`` on ``path`` opened by us, so exactly that path is written (``np.savez`` given a
    name would append ``.npz``); write errors such as ENOSPC (``/dev/full``) are reported, not lost."""
    try:
        with open(path, "wb") as f:
            write(f)
    except OSError as err:
        raise OSError(f"cannot write {path}: {err.strerror or err}") from None


def _read_inputs(path: str):
    import numpy as np

    from sigprop.errors import InvalidParameterError

    try:
        X = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as err:
        reason = " ".join(str(err).split("; use `usecols`")[0].splitlines())
        reason = reason if len(reason) <= 100 else reason[:97] + "..."  # numpy quotes the bad field in full
        raise InvalidParameterError(f"cannot read {path} as a CSV of numbers: {reason}") from None
    return X


def _simulate(args: argparse.Namespace) -> str:
    from sigprop.simulation import simulate

    r = simulate(
        args.phi,
        args.sigma_w2,
        args.sigma_b2,
        args.width,
        args.depth,
        args.seeds,
        dropout=args.dropout,
        engine=args.engine,
        q0=1.0,
        c0=0.5,
    )
    d = r.to_dict()
    if args.json:
        return _dumps(d)
    lines = [
        f"φ = {r.phi}, σ_w² = {r.sigma_w2:g}, σ_b² = {r.sigma_b2:g}, ρ = {r.dropout:g}, "
        f"N = {r.width}, {r.seeds} seeds, {r.engine} engine; inputs q⁰ = 1, c⁰ = 0.5",
        f"{'l':>4} {'q sim':>10} {'± se':>9} {'q theory':>10} {'c sim':>10} {'± se':>9} {'c theory':>10}",
    ]
    for layer, qm, qs, qt, cm, cs, ct in zip(
        d["layers"], d["q_mean"], d["q_se"], d["q_theory"], d["c_mean"], d["c_se"], d["c_theory"], strict=True
    ):
        cells = (_cell(qm[0], 10, ".5f"), _cell(qs[0], 9, ".2e"), _cell(qt[0], 10, ".5f"), _cell(cm, 10, ".5f"),
                 _cell(cs, 9, ".2e"), _cell(ct, 10, ".5f"))
        lines.append(f"{layer:>4} " + " ".join(cells))
    if r.seeds < 2:
        lines.append("note: one seed, so no standard error (—); use --seeds 2 or more")
    if r.note:
        lines.append(f"note: {r.note}")
    return "\n".join(lines)


def _cell(value, width: int, spec: str) -> str:
    """A table cell: the number, or '—' where there is none (a single seed's standard error, an overflow)."""
    return f"{'—':>{width}}" if value is None else f"{value:>{width}{spec}}"


def _kernel(args: argparse.Namespace) -> str:
    import numpy as np

    from sigprop.errors import ResourceLimitError
    from sigprop.kernels import estimate_seconds, kernels

    X = _read_inputs(args.inputs)
    seconds = estimate_seconds(args.phi, X.shape[0], args.depth) if isinstance(args.depth, int) else 0.0
    if seconds > MAX_KERNEL_SECONDS:
        raise ResourceLimitError(
            f"{X.shape[0]} inputs at depth {args.depth} would take about {seconds / 60:.0f} min "
            f"({X.shape[0] * (X.shape[0] - 1) // 2} pairs; the command line stops at {MAX_KERNEL_SECONDS // 60} min): "
            "use fewer inputs or call sigprop.kernels.kernels from Python"
        )
    if seconds > 10:
        print(f"sigprop: computing {X.shape[0] * (X.shape[0] - 1) // 2} pairs, about {seconds:.0f} s", file=sys.stderr)
    k = kernels(args.phi, X, args.depth, args.sigma_w2, args.sigma_b2, args.dropout)
    if args.json:
        return _dumps({"nngp": k.nngp.tolist(), "ntk": k.ntk.tolist(), "note": k.note})
    with np.printoptions(precision=8, suppress=True, linewidth=120):
        text = f"NNGP (depth {args.depth}):\n{k.nngp}\nNTK:\n{k.ntk}"
    return text + (f"\nnote: {k.note}" if k.note else "")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}") from None


def _trainability(args: argparse.Namespace) -> str:
    import time

    import numpy as np

    from sigprop import trainability as tr
    from sigprop.sweep import check_scheduler

    tr.check_threshold(args.threshold)
    check_scheduler(None if args.scheduler == "none" else args.scheduler)  # before anything is written
    start = time.perf_counter()
    try:
        result = tr.trainability(
            args.depths, np.linspace(*args.sigma_w2), args.sigma_b2, width=args.width, steps=args.steps, lr=args.lr,
            batch=args.batch, seed=args.seed, seeds=args.seeds, out_dir=args.out, chunks=args.chunks, progress=True,
            scheduler=None if args.scheduler == "none" else args.scheduler,
        )
    except ImportError as err:
        raise OSError(f"{err} (pip install sigprop[trainability])") from None
    except KeyboardInterrupt:
        print(f"sigprop: interrupted; finished chunks are kept in {args.out}: rerun the same command to resume",
              file=sys.stderr)
        raise SystemExit(130) from None
    agree = tr.agreement(result, args.threshold)
    paths = tr.write_outputs(result, args.out)
    return "\n".join([
        f"{result.spec.n_cells} networks ({result.computed_cells} trained now, {result.loaded_cells} resumed) "
        f"in {time.perf_counter() - start:.0f} s; critical σ_w² = {result.critical_sigma_w2:.4f}",
        agree.summary(),
        "wrote " + ", ".join(str(p) for p in paths.values()),
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sigprop`` console script."""
    args = _parser().parse_args(argv)
    from sigprop.errors import SigpropError

    try:
        commands = {"point": _point, "critical": _critical, "phase": _phase, "simulate": _simulate, "kernel": _kernel,
                    "batchnorm": _batchnorm, "serve": _serve, "recommend": _recommend, "trainability": _trainability}
        out = commands[args.command](args)
    except (SigpropError, OSError) as err:
        print(f"sigprop: error: {' '.join(str(err).splitlines())}", file=sys.stderr)
        return 2
    except MemoryError:
        print("sigprop: error: out of memory; reduce the grid, width, depth or number of inputs", file=sys.stderr)
        return 2
    except RuntimeError as err:  # XLA's allocator failing is a resource limit, not a bug
        if "RESOURCE_EXHAUSTED" not in str(err):
            raise
        print("sigprop: error: out of memory (XLA RESOURCE_EXHAUSTED); reduce the grid, width, depth or inputs",
              file=sys.stderr)
        return 2
    if out:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
