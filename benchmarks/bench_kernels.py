"""Speed of the NNGP/NTK kernels and GP sampling, printed as figures.

    python benchmarks/bench_kernels.py

Target on the 2-core CPU: the NNGP of 512 equally spaced circle inputs at depth 50 plus 10 prior
samples in ≤ 0.2 s warm. Also printed: a general (non-circle) 256-input kernel at depth 10 for
smooth tanh, and a smaller one for kinked ReLU (split polar rule, far more nodes per pair), plus
the accuracy of the general path against the erf arcsine recursion.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

TANH = ("tanh", 1.7609, 0.05)  # near the critical line (Schoenholz et al. 2017): the slowest correlations


def timed(fn, repeats: int) -> tuple[float, float]:
    """(cold, median warm) seconds; ``fn(k)`` gets the repeat index so every call has new σ's."""
    t = time.perf_counter()
    fn(0)
    cold = time.perf_counter() - t
    warm = []
    for k in range(1, repeats + 1):
        t = time.perf_counter()
        fn(k)
        warm.append(time.perf_counter() - t)
    return cold, statistics.median(warm)


def circle_and_samples(n: int, depth: int, samples: int, fft: bool):
    from sigprop.gp import circulant_prior_samples, prior_samples
    from sigprop.kernels import circle_kernels

    def run(k: int):
        ck = circle_kernels(TANH[0], n, depth, TANH[1] * (1 + 1e-4 * k), TANH[2])
        if fft:
            return circulant_prior_samples(ck.nngp_row, samples, seed=k)
        return prior_samples(ck.nngp, samples, seed=k)

    return run


def general(name: str, n: int, depth: int):
    from sigprop.kernels import kernels

    X = np.random.default_rng(0).standard_normal((n, 8)) / np.sqrt(2.0)

    def run(k: int):
        return kernels(name, X, depth, TANH[1] * (1 + 1e-4 * k), TANH[2])

    return run


def erf_accuracy(n: int, depth: int) -> float:
    """Max |K − K_ref|/max|K_ref| over NNGP and NTK against the erf arcsine recursion (plain NumPy)."""
    from sigprop.closed_forms import erf_kernel
    from sigprop.kernels import kernels

    sw2, sb2 = 2.0, 0.1
    X = np.random.default_rng(1).standard_normal((n, 4)) * 0.7
    K = sw2 * X @ X.T / 4 + sb2
    T = K.copy()
    for _ in range(depth):
        q = np.diag(K)
        E, Ec = erf_kernel(q[:, None], q[None, :], np.clip(K / np.sqrt(np.outer(q, q)), -1, 1))
        K = sw2 * E + sb2
        T = K + sw2 * Ec * T
    got = kernels("erf", X, depth, sw2, sb2)
    return max(np.abs(got.nngp - K).max() / np.abs(K).max(), np.abs(got.ntk - T).max() / np.abs(T).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    r = args.repeats

    print("figure                                                     cold (s)   warm (s)")
    rows = [
        ("circle 512 pts, depth 50, NNGP + 10 samples (FFT)", circle_and_samples(512, 50, 10, True)),
        ("circle 512 pts, depth 50, NNGP + 10 samples (Cholesky)", circle_and_samples(512, 50, 10, False)),
        ("general tanh, 256 inputs, depth 10, NNGP + NTK", general("tanh", 256, 10)),
        ("general relu, 64 inputs, depth 10, NNGP + NTK", general("relu", 64, 10)),
    ]
    for label, fn in rows:
        cold, warm = timed(fn, r if "relu" not in label else 2)
        print(f"{label:<58} {cold:8.3f}   {warm:8.4f}")
    target = timed(circle_and_samples(512, 50, 10, False), r)[1]
    print(
        f"\ntarget ≤ 0.2 s warm (circle 512, depth 50, + 10 samples, Cholesky): {target:.4f} s -> "
        f"{'met' if target <= 0.2 else 'MISSED'}"
    )
    print(f"accuracy: erf 200 inputs, depth 8, max relative error vs arcsine recursion: {erf_accuracy(200, 8):.1e}")
    kinked_views(r)


def kinked_views(repeats: int) -> None:
    """Dashboard views for kinked φ with VIEW_QUADRATURE: exact polar rule vs Chebyshev panels
    (method="table"). Min over repeats (the 2-core machine may be busy); new σ's every call."""
    from app.compute import VIEW_QUADRATURE as V
    from sigprop.kernels import circle_kernels
    from sigprop.maps import correlation_map

    c = np.linspace(-1.0, 1.0, 201)
    print("\nkinked φ, VIEW_QUADRATURE, min of repeats (s)        exact      table")
    for name in ("relu", "hard_tanh"):
        for label, fn in (
            ("circle_kernels 256 pts depth 50", lambda m, k, name=name: circle_kernels(
                name, 256, 50, 1.5 + 1e-3 * k, 0.1, quadrature=V, method=m)),
            ("correlation_map 201 pts", lambda m, k, name=name: correlation_map(
                name, c, 1.5 + 1e-3 * k, 0.1, quadrature=V, method=m)),
        ):
            best = {}
            for m in ("exact", "table"):
                fn(m, 0)
                times = []
                for k in range(1, repeats + 1):
                    t = time.perf_counter()
                    fn(m, k)
                    times.append(time.perf_counter() - t)
                best[m] = min(times)
            print(f"{name:<10} {label:<40} {best['exact']:8.4f}   {best['table']:8.4f}")


if __name__ == "__main__":
    main()
