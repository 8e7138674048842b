"""Gaussian-process inference with the infinite-width kernels: prior samples, posteriors, NTK regression.

A random network at initialisation is a draw from GP(0, K) with K the NNGP kernel (Lee et al.
2018); Bayesian inference with it is exact GP regression; and an infinitely wide network trained
by gradient flow on the mean squared error is a kernel regressor with the NTK Θ (Jacot et al.
2018; Lee et al. 2019). Kernels come from :mod:`sigprop.kernels`; here only linear algebra.

Deep kernels are often numerically singular: in the ordered phase all correlations tend to
c* = 1, so every entry of K tends to q* and K ≈ q* 11ᵀ has rank one to working precision. Every
factorisation here is therefore robust: the matrix is symmetrised, a Cholesky factorisation is
tried with jitter ε·mean(diag K) for ε in :data:`JITTERS`, accepted only when its smallest pivot is
above rounding level, and otherwise an eigendecomposition with negative eigenvalues clipped to
zero is used. The jitter and method actually used are returned with every result, and no result
is ever NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import numpy as np
import scipy.linalg

from sigprop.errors import InvalidParameterError, ResourceLimitError
from sigprop.point import check_int

JITTERS = (0.0, 1e-12, 1e-10, 1e-8, 1e-6)
"""Diagonal jitters tried in turn, relative to the mean diagonal. 1e-12 already lifts a rank-one
K ≈ q*11ᵀ above the rounding of its entries (~n·2e-16 relative); 1e-6 is the most we allow
before treating the matrix as indefinite and switching to the eigendecomposition."""

PIVOT_FLOOR = 16.0 * np.finfo(np.float64).eps
"""A Cholesky factorisation is accepted when min(diag L)² ≥ n·PIVOT_FLOOR·mean(diag K): smaller
pivots are rounding noise, and solves with them would amplify it without bound."""


@dataclass(frozen=True)
class PriorSamples:
    """Samples f ~ N(0, K).

    Attributes:
      samples: (n_samples, n).
      jitter: absolute value added to K's diagonal (0 for the eigen and FFT methods).
      method: ``"cholesky"``, ``"eigh"`` (eigendecomposition) or ``"fft"`` (circulant K).
      clipped: magnitude of the most negative eigenvalue set to zero (0 for Cholesky).
    """

    samples: np.ndarray
    jitter: float
    method: str
    clipped: float


@dataclass(frozen=True)
class Posterior:
    """Exact GP posterior at the test inputs.

    Attributes:
      mean: K_* (K + σ²I)⁻¹ y, shape (m,) or (m, k) like y.
      variance: diag(K_** − K_* (K + σ²I)⁻¹ K_*ᵀ), clipped at 0, shape (m,).
      samples: (n_samples, m) (or (n_samples, m, k)) draws from the posterior, or None.
      jitter, method: how K + σ²I was factorised (see :class:`PriorSamples`).
      sample_jitter, sample_method: how the posterior covariance was factorised for the samples
        (0.0 and "" when no samples were drawn).
    """

    mean: np.ndarray
    variance: np.ndarray
    samples: np.ndarray | None
    jitter: float
    method: str
    sample_jitter: float = 0.0
    sample_method: str = ""


@dataclass(frozen=True)
class NTKRegression:
    """Mean prediction of an infinitely wide network trained to convergence.

    Attributes:
      mean: Θ_* (Θ + reg·I)⁻¹ y, shape (m,) or (m, k) like y.
      jitter, method: how Θ + reg·I was factorised (see :class:`PriorSamples`).
    """

    mean: np.ndarray
    jitter: float
    method: str


@dataclass(frozen=True)
class _Factor:
    """A PSD factorisation A ≈ R Rᵀ: Cholesky of A + jitter·I, or eigenvectors and clipped eigenvalues."""

    method: str
    jitter: float
    clipped: float
    lower: np.ndarray | None = None
    vecs: np.ndarray | None = None
    vals: np.ndarray | None = None

    def root(self) -> np.ndarray:
        """R with R Rᵀ = A + jitter·I (Cholesky) or A with negative eigenvalues clipped (eigh)."""
        if self.lower is not None:
            return self.lower
        return self.vecs * np.sqrt(self.vals)

    def whiten(self, b: np.ndarray) -> np.ndarray:
        """W = R⁻¹ b, so that Wᵀ W' = bᵀ A⁻¹ b' (pseudo-inverse over the numerically zero eigenvalues)."""
        if self.lower is not None:
            return scipy.linalg.solve_triangular(self.lower, b, lower=True, check_finite=False)
        cutoff = self.vals.size * np.finfo(np.float64).eps * max(float(self.vals.max(initial=0.0)), 0.0)
        inv_sqrt = np.where(self.vals > cutoff, 1.0 / np.sqrt(np.where(self.vals > cutoff, self.vals, 1.0)), 0.0)
        return (inv_sqrt[:, None] if b.ndim > 1 else inv_sqrt) * (self.vecs.T @ b)


def _factor(A: np.ndarray) -> _Factor:
    """Robust PSD factorisation of a symmetric matrix (module docstring): never NaN for finite A."""
    A = 0.5 * (A + A.T)
    n = A.shape[0]
    scale = float(np.mean(np.abs(np.diag(A)))) if n else 0.0
    if scale > 0.0:
        for eps in JITTERS:
            jitter = eps * scale
            try:
                lower = np.linalg.cholesky(A + jitter * np.eye(n))
            except np.linalg.LinAlgError:
                continue
            if np.all(np.isfinite(lower)) and np.min(np.diag(lower)) ** 2 >= n * PIVOT_FLOOR * scale:
                return _Factor("cholesky", jitter, 0.0, lower=lower)
    vals, vecs = np.linalg.eigh(A)
    return _Factor("eigh", 0.0, max(0.0, -float(vals.min(initial=0.0))), vecs=vecs, vals=np.maximum(vals, 0.0))


MEMORY_BUDGET = 2 * 2**30
"""Bytes of samples a draw may hold: the normal draws, their product with the factor and its
transpose are each one float64 per sample entry (3 copies at once), checked before anything is drawn."""


def _check_memory(shape: tuple[int, ...], what: str) -> None:
    """Refuse draws whose working arrays would exceed :data:`MEMORY_BUDGET` (a one-line estimate)."""
    need = 3 * 8 * math.prod(shape)
    if need > MEMORY_BUDGET:
        raise ResourceLimitError(
            f"{what} of shape {shape} need ~{need / 2**30:.3g} GiB at once (limit {MEMORY_BUDGET / 2**30:.0f} GiB); "
            "draw fewer samples, or in batches"
        )


def _normal(seed, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws from an int seed, a NumPy Generator or a JAX PRNG key."""
    _check_memory(shape, "the samples")
    if isinstance(seed, jax.Array):
        return np.asarray(jax.random.normal(seed, shape, dtype=np.float64))
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise InvalidParameterError("seed must be an int, a numpy Generator or a JAX PRNG key") from None
    return rng.standard_normal(shape)


def _matrix(K, name: str, shape: tuple[int | None, int | None] = (None, None)) -> np.ndarray:
    """K as a finite float64 2-D array, checked against ``shape`` (None: any size)."""
    try:
        K = np.asarray(K, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be an array of numbers") from None
    if K.ndim != 2 or any(s is not None and s != k for s, k in zip(shape, K.shape, strict=True)):
        want = " × ".join("·" if s is None else str(s) for s in shape)
        raise InvalidParameterError(f"{name} must be a {want} matrix, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise InvalidParameterError(f"{name} must be finite")
    return K


def _square(K, name: str) -> np.ndarray:
    K = _matrix(K, name)
    if K.shape[0] != K.shape[1]:
        raise InvalidParameterError(f"{name} must be square, got shape {K.shape}")
    return K


def _nonnegative(x, name: str) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number") from None
    if not (np.isfinite(x) and x >= 0.0):
        raise InvalidParameterError(f"{name} must be a non-negative finite number, got {x}")
    return x


def _targets(y, n: int) -> np.ndarray:
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError("y must be an array of numbers") from None
    if y.ndim not in (1, 2) or y.shape[0] != n or not np.all(np.isfinite(y)):
        raise InvalidParameterError(f"y must be finite with shape ({n},) or ({n}, k), got {y.shape}")
    return y


def prior_samples(K, n_samples: int, seed=0) -> PriorSamples:
    """Draw f ~ N(0, K) robustly (symmetrise, Cholesky with increasing jitter, eigen fallback).

    f = R z with R Rᵀ = K (+ jitter·I) and z ~ N(0, I). For circulant K (equally spaced points on
    a circle) :func:`circulant_prior_samples` is the O(n log n) equivalent.

    Args:
      K: covariance matrix (n × n), e.g. ``kernels(...).nngp``: a draw is the output of a random
        infinitely wide network (Lee et al. 2018).
      n_samples: number of draws.
      seed: int, ``numpy.random.Generator`` or JAX PRNG key.

    Returns:
      :class:`PriorSamples` with samples of shape (n_samples, n), the jitter and the method.

    >>> s = prior_samples(np.ones((3, 3)), 2, seed=0)     # rank one: each draw is constant
    >>> s.method, bool(np.allclose(s.samples, s.samples[:, :1], atol=1e-5))
    ('cholesky', True)
    """
    K = _square(K, "K")
    n_samples = check_int(n_samples, "n_samples", 0)
    f = _factor(K)
    z = _normal(seed, (K.shape[0], n_samples))
    return PriorSamples((f.root() @ z).T, f.jitter, f.method, f.clipped)


def circulant_prior_samples(row, n_samples: int, seed=0) -> PriorSamples:
    """Draw f ~ N(0, K) for a symmetric circulant K given by its first row, by FFT.

    A circulant matrix is diagonalised by the discrete Fourier transform: its eigenvalues are
    λ = DFT(row) (real for a symmetric row), so K^{1/2} z = IDFT(√λ · DFT(z)) with negative λ
    clipped to zero. This is the exact symmetric square root, O(n log n) per sample.

    Args:
      row: first row r of K (K[i, j] = r[(j − i) mod n]), e.g. ``circle_kernels(...).nngp_row``;
        it is symmetrised (r_k ← (r_k + r_{n−k})/2).
      n_samples, seed: as in :func:`prior_samples`.

    Returns:
      :class:`PriorSamples` with method ``"fft"`` and jitter 0.
    """
    try:
        row = np.asarray(row, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError("row must be an array of numbers") from None
    if row.ndim != 1 or row.size == 0 or not np.all(np.isfinite(row)):
        raise InvalidParameterError(f"row must be a finite non-empty 1-D array, got shape {row.shape}")
    n_samples = check_int(n_samples, "n_samples", 0)
    n = row.size
    row = 0.5 * (row + np.roll(row[::-1], 1))
    lam = np.fft.rfft(row).real
    clipped = max(0.0, -float(lam.min()))
    z = _normal(seed, (n_samples, n))
    samples = np.fft.irfft(np.sqrt(np.maximum(lam, 0.0)) * np.fft.rfft(z, axis=1), n=n, axis=1)
    return PriorSamples(samples, 0.0, "fft", clipped)


def _posterior_mean(f: _Factor, K_cross: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K_* A⁻¹ y, W) with W = R⁻¹ K_*ᵀ, from the factor R of A."""
    W = f.whiten(K_cross.T)
    return W.T @ f.whiten(y), W


def gp_posterior(K_train, K_cross, K_test, y, noise: float = 0.0, *, n_samples: int = 0, seed=0) -> Posterior:
    """Exact GP regression: the posterior at test inputs given y = f(X) + ε, ε ~ N(0, σ²I).

    mean = K_* (K + σ²I)⁻¹ y,  cov = K_** − K_* (K + σ²I)⁻¹ K_*ᵀ (Rasmussen & Williams 2006, eq. 2.22–2.24),
    with the NNGP kernel this is exact Bayesian inference with an infinitely wide network (Lee et al.
    2018). K + σ²I is factorised robustly (module docstring): with σ² = 0 and a non-singular K the
    mean interpolates the training targets.

    Args:
      K_train: K(X, X), (n × n).
      K_cross: K(X_*, X), (m × n): test inputs on rows, as in neural-tangents' ``k_test_train``.
      K_test: K(X_*, X_*) (m × m), or its diagonal (m,) when no samples are wanted.
      y: targets (n,) or (n, k).
      noise: observation noise variance σ² ≥ 0.
      n_samples: posterior draws to return (needs the full K_test).
      seed: int, ``numpy.random.Generator`` or JAX PRNG key.

    Returns:
      :class:`Posterior`.
    """
    K_train = _square(K_train, "K_train")
    n = K_train.shape[0]
    K_cross = _matrix(K_cross, "K_cross", (None, n))
    m = K_cross.shape[0]
    full = np.ndim(K_test) == 2
    K_test = _matrix(K_test if full else np.atleast_2d(K_test), "K_test", (m, m) if full else (1, m))
    K_test_diag = np.diag(K_test) if full else K_test[0]
    y = _targets(y, n)
    noise = _nonnegative(noise, "noise")
    n_samples = check_int(n_samples, "n_samples", 0)
    if n_samples and not full:
        raise InvalidParameterError("posterior samples need the full K_test matrix (m × m), not its diagonal")

    f = _factor(K_train + noise * np.eye(n))
    mean, W = _posterior_mean(f, K_cross, y)
    variance = np.maximum(K_test_diag - np.sum(W * W, axis=0), 0.0)
    if not n_samples:
        return Posterior(mean, variance, None, f.jitter, f.method)
    g = _factor(K_test - W.T @ W)
    z = _normal(seed, (n_samples, m, *y.shape[1:]))
    samples = mean + np.einsum("ij,sj...->si...", g.root(), z)
    return Posterior(mean, variance, samples, f.jitter, f.method, g.jitter, g.method)


def ntk_regression_mean(ntk_train, ntk_cross, y, reg: float = 0.0) -> NTKRegression:
    """Mean prediction of an infinitely wide network trained by gradient flow on MSE to convergence.

    In the NTK regime the network is linear in its parameters, so under gradient flow on
    ½|f(X) − y|² it converges to f_∞(x_*) = f_0(x_*) + Θ_* Θ⁻¹ (y − f_0(X)) (Jacot et al. 2018;
    Lee et al. 2019, eq. 16). The initial outputs f_0 are a zero-mean GP, so the mean over
    initialisations is Θ_* Θ⁻¹ y: the GP posterior mean with kernel Θ and no noise. It reproduces
    the training targets exactly (at reg = 0). This is the mean only; the variance over
    initialisations also involves the NNGP kernel.

    Args:
      ntk_train: Θ(X, X), (n × n).
      ntk_cross: Θ(X_*, X), (m × n).
      y: targets (n,) or (n, k).
      reg: ridge added to Θ's diagonal (0 = plain gradient flow); Θ is factorised robustly.

    Returns:
      :class:`NTKRegression` with the mean (m,) or (m, k), the jitter and the method.
    """
    ntk_train = _square(ntk_train, "ntk_train")
    n = ntk_train.shape[0]
    ntk_cross = _matrix(ntk_cross, "ntk_cross", (None, n))
    y = _targets(y, n)
    f = _factor(ntk_train + _nonnegative(reg, "reg") * np.eye(n))
    return NTKRegression(_posterior_mean(f, ntk_cross, y)[0], f.jitter, f.method)
