"""Speed of the trainability experiment: the small version end to end, and SGD throughput.

    python benchmarks/bench_trainability.py                 # small version + throughput at width 128
    python benchmarks/bench_trainability.py --dask          # the small version also on a LocalCluster
    python benchmarks/bench_trainability.py --compare       # float32 vs float64, cell_batch 1 vs 4

The small version is a 12 × 12 grid (depths 2 … 24, σ_w² in [1, 4]) of width-16 networks trained
for 40 SGD steps (batch 32): it must run in well under a minute on the 2-core CPU, compilation
(one per depth) included. Throughput is reported in network-steps/s and in layer-steps/s (one
hidden layer of one network for one SGD step, forward and backward, B × N² multiply-adds ×3), the
unit in which the full run's cost adds up: steps × Σ_cells depth. Times are wall clock, best of
``--repeats`` warm calls, with the CPU time of this process beside them (other processes on a
shared machine disturb it less).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def small(scheduler=None) -> None:
    from sigprop import trainability as tr

    depths, sigma_w2 = list(range(2, 25, 2)), np.linspace(1.0, 4.0, 12)
    kw = dict(width=16, steps=40, lr=0.05, batch=32, seed=0)
    wall, cpu = timed(lambda: tr.trainability(depths, sigma_w2, 0.05, scheduler=scheduler, **kw))
    steps = 40 * len(depths) * len(sigma_w2)
    where = "in process" if scheduler is None else "LocalCluster"
    print(f"small version ({where}): 12 × 12 cells, width 16, 40 steps, batch 32: {wall:5.1f} s wall "
          f"(CPU {cpu:5.1f} s, compilation included), {steps / wall:7.0f} network-steps/s")


def throughput(depth: int, width: int, batch: int, cells: int, steps: int, dtype: str, cell_batch: int,
               repeats: int) -> float:
    from sigprop import trainability as tr

    kw = dict(sigma_b2=0.05, width=width, lr=0.005, batch=batch, dtype=dtype, cell_batch=cell_batch)
    w = np.linspace(1.0, 4.0, cells)
    tr.train_cells(depth, w, np.zeros(cells, dtype=int), steps=steps, **kw)  # compile
    best = min(timed(lambda: tr.train_cells(depth, w, np.zeros(cells, dtype=int), steps=steps, **kw))
               for _ in range(repeats))
    wall, cpu = best
    rate = cells * steps * depth / wall
    print(f"depth {depth:3d}, width {width}, batch {batch}, {cells} cells × {steps} steps, {dtype}, "
          f"cell_batch {cell_batch}: {wall:6.2f} s wall (CPU {cpu:6.2f} s), "
          f"{cells * steps / wall:7.1f} network-steps/s, {rate:8.0f} layer-steps/s")
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--dask", action="store_true", help="also run the small version on a Dask LocalCluster")
    p.add_argument("--compare", action="store_true", help="float32 vs float64 and cell_batch 1 vs 4")
    args = p.parse_args()
    small()
    if args.dask:
        small("local")
    throughput(50, 128, 128, 8, 40, "float32", 1, args.repeats)
    if args.compare:
        throughput(50, 128, 128, 8, 40, "float64", 1, args.repeats)
        throughput(50, 128, 128, 8, 40, "float32", 4, args.repeats)
        throughput(50, 128, 64, 8, 40, "float32", 1, args.repeats)


if __name__ == "__main__":
    main()
