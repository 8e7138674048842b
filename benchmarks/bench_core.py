"""Speed and accuracy of the numerical core (issue 2 targets), printed as figures.

    python benchmarks/bench_core.py            # 400 × 400 tanh phase diagram, point timing, accuracy
    python benchmarks/bench_core.py --kinked-only   # only the 200 × 200 kinked-φ figures

Targets on the 2-core CPU: all six grids of a 400 × 400 tanh phase diagram in ≤ 0.5 s warm and
≤ 10 s cold (a fresh process: import, compilation and computation); one ``point`` ≤ 2 ms warm.
Accuracy is measured against ``point`` at the same cells (grids must equal points) and against
the independent golden table in tests/reference/golden.json (every record, any q*).

Kinked φ (hard tanh, ReLU, ELU, a custom expression): a 200 × 200 diagram, with and without dropout,
≤ 1 s warm (the dashboard's target). Cold is a fresh process (import, compilation, tables); warm is
the min over repeats with σ ranges shifted each time (same shape: nothing recompiles). The machine
is shared, so the min over repeats is the figure to read.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIGMA_W2 = (0.5, 4.0)
SIGMA_B2 = (0.0, 0.5)
COLD = """
import time, numpy as np
t0 = time.perf_counter()
import sigprop as sp
d = sp.phase_diagram("tanh", np.linspace({w0}, {w1}, {n}), np.linspace({b0}, {b1}, {n}))
print(time.perf_counter() - t0)
"""


KINKED = ("hard_tanh", "relu", "elu", "maximum(x, 0.3*x) + 0.1*abs(x - 0.5)")
COLD_KINKED = """
import time, numpy as np
t0 = time.perf_counter()
import sigprop as sp
d = sp.phase_diagram({phi!r}, np.linspace({w0}, {w1}, {n}), np.linspace({b0}, {b1}, {n}), {rho})
print(time.perf_counter() - t0)
"""


def cold_start(n: int, phi: str = "tanh", rho: float = 1.0) -> float:
    """Seconds from interpreter start to a finished n × n diagram (measured in a new process)."""
    t = time.perf_counter()
    template = COLD if phi == "tanh" and rho == 1.0 else COLD_KINKED
    code = template.format(w0=SIGMA_W2[0], w1=SIGMA_W2[1], b0=SIGMA_B2[0], b1=SIGMA_B2[1], n=n, phi=phi, rho=rho)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t


def warm(n: int, repeats: int, phi: str = "tanh", rho: float = 1.0) -> tuple[list[float], object]:
    import sigprop as sp

    w, b = np.linspace(*SIGMA_W2, n), np.linspace(*SIGMA_B2, n)
    d = sp.phase_diagram(phi, w, b, rho)  # warm-up: compiles once (and, for kinked φ, builds tables)
    times = []
    for k in range(repeats):  # new ranges of the same shape each time: nothing recompiles
        s = 1 + 1e-3 * (k + 1)
        t = time.perf_counter()
        sp.phase_diagram(phi, w * s, b * s, rho)
        times.append(time.perf_counter() - t)
    return times, d


def kinked_accuracy(d, samples: int, seed: int = 0) -> dict[str, float]:
    """Worst error of random cells of a kinked diagram against ``point`` (c*, χ_c absolute)."""
    import sigprop as sp

    rng = np.random.default_rng(seed)
    worst: dict[str, float] = {}
    ok = np.argwhere(d.status == 0)
    for i, j in ok[rng.choice(len(ok), size=min(samples, len(ok)), replace=False)]:
        r = sp.point(d.phi, d.sigma_w2[j], d.sigma_b2[i], d.dropout)
        for key in ("q_star", "c_star", "chi_1", "chi_c"):
            ref, got = getattr(r, key), float(getattr(d, key)[i, j])
            err = abs(got - ref) / (1.0 if key in ("c_star", "chi_c") else max(abs(ref), 1e-300))
            worst[key] = max(worst.get(key, 0.0), err)
    return worst


def kinked_report(n: int, repeats: int, samples: int) -> None:
    print(f"kinked phase diagrams {n} x {n}, same ranges; min over {repeats} warm runs (shared 2-core machine)")
    for phi in KINKED:
        for rho in (1.0, 0.9):
            cold = cold_start(n, phi, rho)
            times, d = warm(n, repeats, phi, rho)
            acc = kinked_accuracy(d, samples)
            errs = " ".join(f"{k} {v:.0e}" for k, v in acc.items())
            print(
                f"  {phi[:24]:24s} rho={rho:g}: cold {cold:5.2f} s, warm min {min(times):.3f} s "
                f"(median {np.median(times):.3f}) [target <= 1 s]; vs point() on {samples} cells: {errs}"
            )


def point_time(calls: int) -> float:
    import sigprop as sp

    sp.point("tanh", 2.5, 0.1)
    t = time.perf_counter()
    for k in range(calls):
        sp.point("tanh", 2.5 + 1e-6 * k, 0.1)
    return (time.perf_counter() - t) / calls


def grid_accuracy(d, samples: int, seed: int = 0) -> dict[str, float]:
    """Max relative error of grid cells against ``point`` at the same (σ_w², σ_b²) (c* ≈ 0 absolute)."""
    import sigprop as sp

    rng = np.random.default_rng(seed)
    worst: dict[str, float] = {}
    for _ in range(samples):
        i, j = rng.integers(d.chi_1.shape[0]), rng.integers(d.chi_1.shape[1])
        r = sp.point("tanh", d.sigma_w2[j], d.sigma_b2[i])
        for key in ("q_star", "c_star", "chi_1", "chi_c", "xi_q", "xi_c"):
            ref, got = getattr(r, key), float(getattr(d, key)[i, j])
            if math.isinf(ref):
                err = 0.0 if math.isinf(got) else math.inf
            else:
                err = abs(got - ref) / max(abs(ref), 1e-3 if key == "c_star" else 1e-300)
            worst[key] = max(worst.get(key, 0.0), err)
    return worst


def golden_accuracy() -> float:
    """Max relative error of point() (q*, χ₁, χ_c) over every golden record."""
    import sigprop as sp

    golden = json.loads((Path(__file__).parents[1] / "tests/reference/golden.json").read_text())
    alpha = golden["meta"]["conventions"]["leaky_relu_alpha"]
    worst = 0.0
    for rec in golden["points"]:
        phi = sp.nonlinearity(rec["phi"], **({"alpha": alpha} if rec["phi"] == "leaky_relu" else {}))
        r = sp.point(phi, rec["sigma_w2"], rec["sigma_b2"], rec["rho"])
        for key in ("q_star", "chi_1", "chi_c"):
            worst = max(worst, abs(getattr(r, key) / rec[key] - 1))
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400, help="grid points per axis")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--samples", type=int, default=60, help="grid cells checked against 600 nodes")
    p.add_argument("--kinked-n", type=int, default=200, help="grid points per axis for kinked φ")
    p.add_argument("--kinked-only", action="store_true", help="only the kinked-φ figures")
    args = p.parse_args()
    if args.kinked_only:
        kinked_report(args.kinked_n, args.repeats, 10)
        return
    n = args.n
    print(f"tanh phase diagram {n} x {n}, sigma_w2 in {SIGMA_W2}, sigma_b2 in {SIGMA_B2}, the rule of point()")
    print(f"  cold (fresh process, import + compile + compute): {cold_start(n):.2f} s   [target <= 10 s]")
    times, d = warm(n, args.repeats)
    print(f"  warm: min {min(times):.3f} s, median {np.median(times):.3f} s over {len(times)} runs   [target <= 0.5 s]")
    print(f"  one point() warm: {1e3 * point_time(500):.3f} ms   [target <= 2 ms]")
    print(f"  grid vs point() ({args.samples} random cells), max relative error:")
    for key, err in grid_accuracy(d, args.samples).items():
        print(f"    {key:7s} {err:.1e}")
    print(f"  point() vs independent golden table (all records): max rel error {golden_accuracy():.1e}")
    kinked_report(args.kinked_n, args.repeats, 10)


if __name__ == "__main__":
    main()
