"""Speed and accuracy of the batch-norm mean-field theory (sigprop.batchnorm), printed as figures.

    python benchmarks/bench_batchnorm.py

Target: λ(φ, B) for B = 4 … 128 (one φ, one vectorised call) in ≤ 1 s warm on the 2-core CPU.
Warm is the min over repeats (the machine is shared). Accuracy is measured against a far finer rule
(48 graded nodes per u₁ panel, 40 per u₂ panel) and, for linear φ, against λ = (B−2)/(B−3).
"""

from __future__ import annotations

import time

import numpy as np

from sigprop import batchnorm as bn

PHIS = ("linear", "relu", "tanh", "hard_tanh", "gelu", "x*sigmoid(1.702*x)")
B = np.arange(4, 129)


def main() -> None:
    for phi in PHIS:
        t0 = time.perf_counter()
        lam = bn.batchnorm_lambda(phi, B)
        cold = time.perf_counter() - t0
        warm = min(_timed(phi) for _ in range(5))
        outer, inner = bn.OUTER_NODES, bn.INNER_NODES
        bn.OUTER_NODES, bn.INNER_NODES = 48, 40
        bn._compiled.cache_clear()
        fine = bn.batchnorm_lambda(phi, B)
        bn.OUTER_NODES, bn.INNER_NODES = outer, inner
        bn._compiled.cache_clear()
        bn.batchnorm_lambda(phi, B)
        err = np.max(np.abs(lam / fine - 1))
        print(
            f"{phi:>20}: B = 4…128  cold {cold:5.2f} s  warm {warm:5.3f} s  max rel. error {err:.1e}  "
            f"λ(4) = {lam[0]:.6f}  λ(8) = {lam[4]:.6f}  λ(128) = {lam[-1]:.6f}"
        )
    exact = (B - 2) / (B - 3)
    print(f"linear vs (B−2)/(B−3): max rel. error {np.max(np.abs(bn.batchnorm_lambda('linear', B) / exact - 1)):.1e}")
    print(f"relu B = 1024: λ = {bn.batchnorm_lambda('relu', [1024])[0]:.6f}, π/(π−1) = {np.pi / (np.pi - 1):.6f}")


def _timed(phi: str) -> float:
    t0 = time.perf_counter()
    bn.batchnorm_lambda(phi, B)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
