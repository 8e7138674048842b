"""Finite-width simulation of batch-normalised networks, to test :mod:`sigprop.batchnorm`.

Dense engine: real weight matrices W^l ~ N(0, σ_w²/N) (N × N, no bias), a batch of B inputs, and

    h^l = W^l x^{l−1},   x^l = φ(BN(h^l)),   BN(h)_b = (h_b − mean_B h)/√var_B h  (per unit, no ε).

With ``num_batches = 2`` two batches go through the same weights, each normalised on its own.
The inputs are N × (num_batches·B) with x⁰ᵀx⁰/N = [[I, ρI], [ρI, I]] (ρ = ``input_correlation``),
so that h¹ already has a permutation-symmetric batch covariance; or, with ``input_gram`` (one batch),
x⁰ᵀx⁰/N = that B × B matrix exactly, to watch a non-symmetric batch kernel relax to K*.

Gradients come from a random linear readout L = Σ_ib R_ib x^depth_ib, R ~ N(0, 1): g^l = ∂L/∂x^l
for every l, obtained as the gradient of L with respect to zero offsets added to each x^l. The
scan body is rematerialised (``jax.checkpoint``), so no layer's W is stored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from sigprop import _config  # noqa: F401  (float64)
from sigprop.batchnorm import check_batch_sizes
from sigprop.errors import InvalidParameterError
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.point import check_int


@dataclass(frozen=True)
class BatchNormSimulation:
    """Per seed and layer: ``kernel`` (S, depth+1, m, m) = x^lᵀx^l/N (m = num_batches·B; layer 0 is
    the input) and ``grad_sq`` (S, depth+1) = ‖∂L/∂x^l‖²; ``growth`` (S, depth) is
    grad_sq[l−1]/grad_sq[l] for l = 1 … depth (index l−1)."""

    phi: str
    width: int
    batch_size: int
    depth: int
    kernel: np.ndarray
    grad_sq: np.ndarray
    growth: np.ndarray

    def mean_growth(self, skip_top: int = 1, skip_bottom: int = 1) -> float:
        """Geometric mean of the per-layer growth over seeds and over layers
        skip_bottom < l ≤ depth − skip_top (the top layer is a transient: R is not yet in the
        gradient's invariant subspace; the bottom one sees the input's kernel, not K*)."""
        g = self.growth[:, skip_bottom : self.depth - skip_top]
        return float(np.exp(np.mean(np.log(g))))


def _bn(h: jax.Array, batch: int) -> jax.Array:
    """BN over each group of ``batch`` columns of h (N × m), population variance, no ε."""
    n, m = h.shape
    g = h.reshape(n, m // batch, batch)
    g = g - g.mean(-1, keepdims=True)
    return (g / jnp.sqrt(jnp.mean(g * g, -1, keepdims=True))).reshape(n, m)


def _gram_factor(gram, batch: int, num_batches: int) -> np.ndarray:
    """Cholesky factor of a positive-definite B × B input Gram matrix, else a clear error."""
    g = np.asarray(gram, dtype=np.float64)
    if num_batches != 1 or g.shape != (batch, batch) or not np.all(np.isfinite(g)) or not np.allclose(g, g.T):
        raise InvalidParameterError(f"input_gram must be a symmetric finite {batch} × {batch} matrix (one batch)")
    try:
        return np.linalg.cholesky(g)
    except np.linalg.LinAlgError:
        raise InvalidParameterError("input_gram must be positive definite") from None


@functools.lru_cache(maxsize=32)
def _compiled(phi: Nonlinearity, width: int, batch: int, num_batches: int, depth: int):
    m = batch * num_batches

    def one_seed(key, sigma_w2, rho, factor):
        k_in, k_r, k_w = jax.random.split(key, 3)
        q, _ = jnp.linalg.qr(jax.random.normal(k_in, (width, 2 * batch)))
        a, b = q[:, :batch], q[:, batch:]
        cols = [a @ factor.T] if num_batches == 1 else [a, rho * a + jnp.sqrt(1 - rho**2) * b]
        x0 = jnp.sqrt(width) * jnp.concatenate(cols, axis=1)
        readout = jax.random.normal(k_r, (width, m))
        keys = jax.random.split(k_w, depth)

        @jax.checkpoint
        def layer(x, inputs):
            k, offset = inputs
            w = jnp.sqrt(sigma_w2 / width) * jax.random.normal(k, (width, width))
            y = phi.fn(_bn(w @ x, batch)) + offset
            return y, y

        def loss(x_in, offsets):
            top, xs = jax.lax.scan(layer, x_in, (keys, offsets))
            return jnp.sum(readout * top), xs

        (_, xs), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(x0, jnp.zeros((depth, width, m)))
        all_x = jnp.concatenate([x0[None], xs])
        kernel = jnp.einsum("lia,lib->lab", all_x, all_x) / width
        grad_sq = jnp.concatenate([jnp.sum(grads[0] ** 2)[None], jnp.sum(grads[1] ** 2, axis=(1, 2))])
        return kernel, grad_sq

    return jax.jit(lambda keys, sw2, rho, factor: jax.lax.map(lambda k: one_seed(k, sw2, rho, factor), keys))


def simulate_batchnorm(
    phi,
    batch_size: int = 8,
    width: int = 1000,
    depth: int = 30,
    seeds: int = 4,
    *,
    num_batches: int = 1,
    input_correlation: float = 0.0,
    input_gram: np.ndarray | None = None,
    sigma_w2: float = 1.0,
    seed: int = 0,
) -> BatchNormSimulation:
    """Simulate ``seeds`` dense BN networks; returns per-layer batch kernels and gradient norms.

    Cost ≈ 2·depth·seeds draws of an N × N Gaussian matrix. σ_w² only rescales h (BN removes it).
    """
    phi = nonlinearity(phi)
    b = int(check_batch_sizes(batch_size)[0])
    width = check_int(width, "width", 2 * b, 8192)
    depth = check_int(depth, "depth", 1, 10_000)
    seeds = check_int(seeds, "seeds", 1, 10_000)
    num_batches = check_int(num_batches, "num_batches", 1, 2)
    if not (-1.0 <= float(input_correlation) <= 1.0) or not (float(sigma_w2) > 0):
        raise InvalidParameterError("input_correlation must be in [−1, 1] and σ_w² positive")
    factor = np.eye(b) if input_gram is None else _gram_factor(input_gram, b, num_batches)
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    fn = _compiled(phi, width, b, num_batches, depth)
    kernel, grad_sq = (np.asarray(v) for v in fn(keys, float(sigma_w2), float(input_correlation), factor))
    return BatchNormSimulation(phi.name, width, b, depth, kernel, grad_sq, grad_sq[:, :-1] / grad_sq[:, 1:])
