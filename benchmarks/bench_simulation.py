"""Speed and memory of the finite-width simulations, printed as figures.

    python benchmarks/bench_simulation.py            # the two target configurations
    python benchmarks/bench_simulation.py --repeats 5

Targets on the 2-core CPU (8 inputs, tanh, σ_w² = 2.5, σ_b² = 0.1):
  * Gram engine, width 4096, depth 100, 64 seeds: ≤ 1 s warm.
  * Dense engine, width 1024, depth 50, 16 seeds: ≤ 10 s.
"Cold" is the first call in this process (tracing and XLA compilation included); "warm" is the best
of ``--repeats`` later calls with new σ_w², σ_b² and seed, which reuse the compiled code; the CPU
time (this process, all threads) is the least over the same calls, a figure that other processes on
the machine disturb less than the wall time.

Memory: the weights are drawn inside the ``lax.scan`` body from that layer's key, so at any time
only one layer's matrices (for the seeds in flight) exist. The script prints the peak resident set
size beside the size that all layers' weights would take at once.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

CONFIGS = (
    # engine, width, depth, seeds, inputs, target seconds (warm)
    ("gram", 4096, 100, 64, 8, 1.0),
    ("dense", 1024, 50, 16, 8, 10.0),
)


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench(engine: str, width: int, depth: int, seeds: int, inputs: int, target: float, repeats: int) -> None:
    from sigprop.simulation import simulate

    def run(k: int):
        return simulate(
            "tanh", 2.5 + 0.01 * k, 0.1 + 0.001 * k, width, depth, seeds, n_inputs=inputs, engine=engine, seed=k
        )

    cold, _ = timed(lambda: run(0))
    warm = [timed(lambda k=k: run(k + 1)) for k in range(repeats)]
    best_wall, best_cpu = min(w for w, _ in warm), min(c for _, c in warm)
    # Gaussian draws per layer and seed: N·m for the Gram engine, N² weights for the dense one
    draws = depth * seeds * width * (width if engine == "dense" else inputs)
    print(f"{engine:5s} width {width:5d}, depth {depth:3d}, {seeds:3d} seeds, {inputs} inputs")
    print(
        f"      cold {cold:6.2f} s   warm {best_wall:6.2f} s wall (min of {repeats}; CPU {best_cpu:5.2f} s, min)"
        f"   target ≤ {target:g} s"
    )
    print(f"      {draws / 1e6:.0f} M Gaussian draws, {best_wall / draws * 1e9:.1f} ns each (all work included)")
    if engine == "dense":
        all_layers = 8 * depth * seeds * width * width / 2**30
        one_layer = 8 * seeds * width * width / 2**30
        print(
            f"      weights of one layer (all seeds) {one_layer:.2f} GiB; of all layers {all_layers:.2f} GiB; "
            f"peak RSS so far {peak_rss_gib():.2f} GiB"
        )
    else:
        print(f"      peak RSS so far {peak_rss_gib():.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} (other processes slow the figures down)")
    for config in CONFIGS:
        bench(*config, repeats=args.repeats)


if __name__ == "__main__":
    main()
