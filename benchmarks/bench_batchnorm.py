"""Speed and accuracy of the batch-norm mean-field theory (sigprop.batchnorm), printed as figures.

    python benchmarks/bench_batchnorm.py

Target: λ(φ, B) for B = 4 … 128 (one φ, one vectorised call) in ≤ 1 s warm on the 2-core CPU.
Warm is the min over repeats (the machine is shared). Accuracy is measured against a far finer rule
(48 graded nodes per u₁ panel, 40 per u₂ panel) and, for linear φ, against λ = (B−2)/(B−3).
The last column times every field of BatchNormResult (λ, q*, c*, λ_x and the forward rates λ_L, λ_M)
for the same 125 batch sizes, with the accuracy of λ_M against the finer rule.
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
        full = bn.batchnorm_quantities(phi, B)
        warm_all = min(_timed(phi, everything=True) for _ in range(3))
        bn.OUTER_NODES, bn.INNER_NODES = 48, 40
        bn._compiled.cache_clear()
        fine_m = bn.batchnorm_quantities(phi, B)["lambda_m"]
        bn.OUTER_NODES, bn.INNER_NODES = outer, inner
        bn._compiled.cache_clear()
        err_m = np.max(np.abs(full["lambda_m"] / fine_m - 1))
        print(
            f"{phi:>20}: B = 4…128  cold {cold:5.2f} s  warm {warm:5.3f} s  max rel. error {err:.1e}  "
            f"λ(4) = {lam[0]:.6f}  λ(8) = {lam[4]:.6f}  λ(128) = {lam[-1]:.6f}  | all fields warm {warm_all:5.3f} s, "
            f"λ_M(8) = {full['lambda_m'][4]:.6f} (rel. error {err_m:.1e})"
        )
    exact = (B - 2) / (B - 3)
    print(f"linear vs (B−2)/(B−3): max rel. error {np.max(np.abs(bn.batchnorm_lambda('linear', B) / exact - 1)):.1e}")
    print(f"relu B = 1024: λ = {bn.batchnorm_lambda('relu', [1024])[0]:.6f}, π/(π−1) = {np.pi / (np.pi - 1):.6f}")


def _timed(phi: str, everything: bool = False) -> float:
    t0 = time.perf_counter()
    (bn.batchnorm_quantities if everything else bn.batchnorm_lambda)(phi, B)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
