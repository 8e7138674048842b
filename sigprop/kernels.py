"""Infinite-width kernels of deep networks: the NNGP K^L and the neural tangent kernel Θ^L.

The network is neural-tangents' ``stax.serial(Dense(W_std=σ_w, b_std=σ_b), φ, Dense, φ, …, Dense)``
in the NTK parameterisation, with L hidden layers (L applications of φ) and inputs x ∈ ℝ^d.
Its output is a Gaussian process with covariance K^L (Neal 1996; Lee et al. 2018, "Deep neural
networks as Gaussian processes") and its gradient-descent dynamics are governed by the neural
tangent kernel Θ^L (Jacot et al. 2018), computed layer by layer as in Neural Tangents (Novak et
al. 2020):

    K⁰(x, x') = σ_w² x·x'/d + σ_b²,                                   Θ⁰ = K⁰,
    K^l(x, x') = σ_w² E[φ(u)φ(u')] + σ_b²,                            l = 1 … L,
    Θ^l(x, x') = K^l(x, x') + σ_w² E[φ'(u)φ'(u')] Θ^{l−1}(x, x'),

with (u, u') ~ N(0, [[K^{l−1}(x, x), K^{l−1}(x, x')], [K^{l−1}(x, x'), K^{l−1}(x', x')]]).
Dropout with keep-probability ρ on every hidden layer's activations scales σ_w² by 1/ρ on the
diagonal only (Schoenholz et al. 2017, §5): K^l(x, x) = σ_w²/ρ E[φ(u)²] + σ_b² and
Θ^l(x, x) = K^l(x, x) + σ_w²/ρ E[φ'(u)²] Θ^{l−1}(x, x); the input itself is not dropped. These
are sigprop's length and correlation maps (:mod:`sigprop.trajectories`) applied to every pair.

How it is computed. The Gaussian expectations are the core's (:mod:`sigprop.expectations`), with no
second copy: per layer, one :func:`~sigprop.expectations.moments` call on the distinct diagonal
variances (E[φ²], E[φ'²] and, for smooth φ, the Mehler coefficients b_k), and one batched call for
all input pairs: :func:`~sigprop.expectations.mehler` with the coefficients gathered per pair
(smooth φ), or :func:`~sigprop.expectations.bivariate_polar` (kinked φ). Only the pairs i < j are
computed (symmetry), in chunks of bounded memory (``lax.map``), and depth is a ``lax.scan``; the
whole computation is one jitted call with static shapes.

On the unit circle x(θ) = (cos θ, sin θ) every input has the same variance, so the diagonal is one
scalar q^l and the pairs reduce to the distinct angle differences: for n equally spaced points the
kernel matrices are circulant and only their first rows (n//2 + 1 distinct values) are computed
(:func:`circle_kernels`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from sigprop import correlation_tables as ct
from sigprop import quadrature as qd
from sigprop.errors import InvalidParameterError, LengthMapDivergesError
from sigprop.expectations import Q_TINY, bivariate_polar, mehler, moments
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.point import accurate_q_limit, check_int, validate
from sigprop.trajectories import MAX_DEPTH

NODE_BUDGET = 1 << 20
"""Quadrature-node evaluations per chunk of input pairs: 8 MB per float64 intermediate, so memory
stays bounded for any number of inputs (smooth φ: 4096 pairs per chunk at 256 nodes; ReLU's polar
rule has 22400 nodes per pair, so 46 pairs per chunk). Chunks of this size also stay in cache:
measured 2^18 … 2^22 on the 2-core CPU, 2^20 is within 10% of the best for tanh and ReLU."""

MAX_POINTS = 1 << 20
"""Largest n_points of a circle or a segment (circle rows are O(n); every n × n matrix is O(n²) memory)."""


@dataclass(frozen=True)
class Kernels:
    """Infinite-width kernels on a set of inputs.

    Attributes:
      nngp: K^L, the output covariance of the random network (n × n, or n × m for cross-kernels).
      ntk: Θ^L, the neural tangent kernel (same shape).
      note: a warning when some K^l(x, x) exceeded the variance up to which the quadrature keeps
        ~1e-9 accuracy for smooth φ (:func:`sigprop.point.accurate_q_limit`), else "".
    """

    nngp: np.ndarray
    ntk: np.ndarray
    note: str = ""


@dataclass(frozen=True)
class CircleKernels:
    """Kernels of n equally spaced points θ_j = 2πj/n on a circle of radius r (circulant matrices).

    Attributes:
      angles: θ_j = 2πj/n, j = 0 … n−1.
      nngp_row: K^L(x(0), x(θ_j)), the first row of the circulant NNGP matrix.
      ntk_row: Θ^L(x(0), x(θ_j)), the first row of the circulant NTK matrix.
      note: as in :class:`Kernels`.
    """

    angles: np.ndarray
    nngp_row: np.ndarray
    ntk_row: np.ndarray
    note: str = ""

    @property
    def nngp(self) -> np.ndarray:
        """The n × n NNGP matrix, K[i, j] = nngp_row[(j − i) mod n]."""
        return scipy.linalg.circulant(self.nngp_row)

    @property
    def ntk(self) -> np.ndarray:
        """The n × n NTK matrix, Θ[i, j] = ntk_row[(j − i) mod n]."""
        return scipy.linalg.circulant(self.ntk_row)


@dataclass(frozen=True)
class SegmentKernels:
    """Kernels on the segment x(t) = (1 − t) x_a + t x_b, t = 0 … 1.

    Attributes:
      t: the n parameters t_j, equally spaced in [0, 1].
      inputs: the n × d points x(t_j).
      nngp: K^L (n × n).
      ntk: Θ^L (n × n).
      note: as in :class:`Kernels`.
    """

    t: np.ndarray
    inputs: np.ndarray
    nngp: np.ndarray
    ntk: np.ndarray
    note: str = ""


class _State(NamedTuple):
    """Kernels at one layer: M diagonal entries (distinct inputs) and P off-diagonal pairs."""

    q: jax.Array  # K^l(x_i, x_i), (M,)
    theta_diag: jax.Array  # Θ^l(x_i, x_i), (M,)
    k: jax.Array  # K^l(x_i, x_j) for the pairs, (P,)
    theta: jax.Array  # Θ^l(x_i, x_j), (P,)


@functools.lru_cache(maxsize=64)
def _pair_nodes(phi: Nonlinearity, quad: qd.Quadrature) -> int:
    """Quadrature nodes of one pair's bivariate expectation (Mehler terms for smooth φ, polar rule else)."""
    if phi.is_smooth:
        return quad.hermite_degree
    one = jax.ShapeDtypeStruct((1,), jnp.float64)
    rule = functools.partial(qd.polar_rule, phi.kinks, m_angle=quad.angular_nodes, m_radius=quad.panel_nodes)
    shape = jax.eval_shape(rule, one, one, one)[0].shape
    return int(shape[0] * shape[1])


def _chunk_size(phi: Nonlinearity, quad: qd.Quadrature) -> int:
    """Pairs per chunk so that one chunk evaluates about :data:`NODE_BUDGET` quadrature nodes."""
    return max(1, NODE_BUDGET // _pair_nodes(phi, quad))


SECONDS_PER_NODE = {True: 4e-9, False: 7e-8}
"""Warm seconds per pair, layer and quadrature node (keyed by ``phi.is_smooth``), measured on the
shared 2-core machine: tanh 400 inputs, depth 5: 0.51 s (256 nodes a pair); ReLU 120 inputs, depth 5:
59 s (22400 nodes a pair). Used only to estimate a run's time before it starts."""


def estimate_seconds(phi: str | Nonlinearity, n_inputs: int, depth: int, n_other: int | None = None,
                     quadrature: qd.Quadrature = qd.DEFAULT) -> float:
    """Rough warm time of :func:`kernels` on n inputs (or n × n_other cross-kernels), from the node count.

    >>> round(estimate_seconds("tanh", 400, 5), 1)
    0.4
    """
    phi = nonlinearity(phi)
    pairs = n_inputs * (n_inputs - 1) // 2 if n_other is None else n_inputs * n_other
    return pairs * max(depth, 1) * _pair_nodes(phi, quadrature) * SECONDS_PER_NODE[phi.is_smooth]


def _pair_expectations(phi: Nonlinearity, quad: qd.Quadrature, q, coeffs, i, j, c):
    """E[φ(u_i)φ(u_j)] and E[φ'(u_i)φ'(u_j)] for P pairs (Var u_i = q[i], corr c), in chunks.

    Smooth φ: the Mehler series with the coefficients b(q) of the M diagonal variances
    (``coeffs``, (n, M)) gathered per pair, so no 1-D integral is repeated per pair. Kinked φ:
    the split polar rule. Both are the core's (:mod:`sigprop.expectations`).
    """
    n_pairs = c.shape[0]
    if n_pairs == 0:
        return c, c
    size = min(_chunk_size(phi, quad), n_pairs)
    n_chunks = -(-n_pairs // size)
    pad = n_chunks * size - n_pairs  # padded pairs are (0, 0, c = 0): valid, then dropped

    def chunk(args):
        ii, jj, cc = args
        if phi.is_smooth:
            # materialise the gathered coefficients: fused into the Horner loop the gather is 5× slower
            ba, bb = jax.lax.optimization_barrier((coeffs[:, ii], coeffs[:, jj]))
            return mehler(ba, bb, q[ii], q[jj], cc)
        return bivariate_polar(phi, quad, q[ii], q[jj], cc)

    args = tuple(jnp.pad(a, (0, pad)).reshape(n_chunks, size) for a in (i, j, c))
    K, Kc = jax.lax.map(chunk, args)
    return K.reshape(-1)[:n_pairs], Kc.reshape(-1)[:n_pairs]


C_SNAP = 4 * np.finfo(np.float64).eps
"""A correlation within this of 1 is taken as 1. For kinked φ, E[φ'(u)φ'(u')] ≈ A − B√(1 − c), so a
rounding error of a few ulps in c near 1 costs √(1e-16) ~ 1e-8 in the NTK; c itself cannot be
known closer to 1 than a few ulps, so snapping changes no resolvable value (worst case B·3e-8, the
size of the noise it removes)."""


def _correlation(k, qa, qb):
    """c = k/√(qa qb) clipped to [−1, 1], exact (c = 1) for a pair equal to its diagonal.

    √(qa qb) is formed as qa when qa = qb (√(q²) = q exactly in IEEE arithmetic, whereas √q·√q
    may be off by an ulp), else as √qa·√qb (no overflow of qa·qb); then 1 − c ≤ :data:`C_SNAP` → 1.
    """
    qa, qb = jnp.maximum(qa, Q_TINY), jnp.maximum(qb, Q_TINY)
    c = k / jnp.where(qa == qb, qa, jnp.sqrt(qa) * jnp.sqrt(qb))
    return jnp.clip(jnp.where(1.0 - c <= C_SNAP, 1.0, c), -1.0, 1.0)


def _layer(phi: Nonlinearity, quad: qd.Quadrature, sigma_w2, sigma_b2, rho, i, j, s: _State) -> _State:
    """One hidden layer (φ then Dense) of the NNGP and NTK recursions (module docstring)."""
    m = moments(phi, quad, s.q, coeffs=True)  # coeffs has shape (0, M) for kinked φ
    c = _correlation(s.k, s.q[i], s.q[j])
    K, Kc = _pair_expectations(phi, quad, s.q, m.coeffs, i, j, c)
    q = sigma_w2 / rho * m.F + sigma_b2
    k = sigma_w2 * K + sigma_b2
    return _State(q, q + sigma_w2 / rho * m.G * s.theta_diag, k, k + sigma_w2 * Kc * s.theta)


def _duplicates_are_diagonal(s: _State, i, j, same, rho) -> _State:
    """Pairs of identical inputs (``same``) take the diagonal's K^L and Θ^L when there is no dropout.

    Without dropout the network is deterministic in its input, so Θ(x, x') = Θ(x, x) exactly for
    x' = x; computing the pair through the 2-D rule at c = 1 instead would add that rule's own
    error, amplified by √(1 − c) in E[φ'φ'] for kinked φ (2e-8 at depth 30 for ReLU, 4e-6 for hard
    tanh). With dropout the two copies get independent masks and are a genuine pair.
    """
    use = same & (rho == 1.0)
    return s._replace(k=jnp.where(use, s.q[i], s.k), theta=jnp.where(use, s.theta_diag[i], s.theta))


def _propagate(phi: Nonlinearity, quad: qd.Quadrature, depth: int, sigma_w2, sigma_b2, rho, i, j, q0, k0):
    """K^L and Θ^L from K⁰ (diagonal ``q0`` (M,), pairs ``k0`` (P,) with indices i, j into q0).

    Returns:
      (the final :class:`_State`, the largest K^l(x, x) over all layers l = 0 … L).
    """

    def step(s, _):
        new = _layer(phi, quad, sigma_w2, sigma_b2, rho, i, j, s)
        return new, jnp.max(new.q)

    s, q_max = jax.lax.scan(step, _State(q0, q0, k0, k0), None, length=depth)
    return s, jnp.max(q_max, initial=jnp.max(q0))


@functools.lru_cache(maxsize=64)
def _compiled_symmetric(phi: Nonlinearity, quad: qd.Quadrature, depth: int):
    """Jitted (X, σ_w², σ_b², ρ) ↦ (K^L, Θ^L) on X × X, computing only the pairs i < j."""

    def run(X, sigma_w2, sigma_b2, rho):
        n, d = X.shape
        K0 = sigma_w2 * (X @ X.T) / d + sigma_b2
        i, j = np.triu_indices(n, 1)
        s, q_max = _propagate(phi, quad, depth, sigma_w2, sigma_b2, rho, i, j, jnp.diag(K0), K0[i, j])
        s = _duplicates_are_diagonal(s, i, j, jnp.all(X[i] == X[j], axis=1), rho)

        def matrix(diag, upper):
            half = jnp.zeros((n, n)).at[i, j].set(upper)
            return half + half.T + jnp.diag(diag)

        return matrix(s.q, s.k), matrix(s.theta_diag, s.theta), q_max

    return jax.jit(run)


@functools.lru_cache(maxsize=64)
def _compiled_cross(phi: Nonlinearity, quad: qd.Quadrature, depth: int):
    """Jitted (X, X2, σ_w², σ_b², ρ) ↦ (K^L, Θ^L) on X × X2 (n × m)."""

    def run(X, X2, sigma_w2, sigma_b2, rho):
        (n, d), m = X.shape, X2.shape[0]
        Z = jnp.concatenate([X, X2])
        q0 = sigma_w2 * jnp.sum(Z * Z, axis=1) / d + sigma_b2
        k0 = (sigma_w2 * (X @ X2.T) / d + sigma_b2).reshape(-1)
        i, j = np.repeat(np.arange(n), m), n + np.tile(np.arange(m), n)
        s, q_max = _propagate(phi, quad, depth, sigma_w2, sigma_b2, rho, i, j, q0, k0)
        s = _duplicates_are_diagonal(s, i, j, jnp.all(Z[i] == Z[j], axis=1), rho)
        return s.k.reshape(n, m), s.theta.reshape(n, m), q_max

    return jax.jit(run)


@functools.lru_cache(maxsize=64)
def _compiled_circle(phi: Nonlinearity, quad: qd.Quadrature, depth: int):
    """Jitted (Δ, r², σ_w², σ_b², ρ) ↦ (q^L, Θ^L(x, x), K^L(Δ), Θ^L(Δ)) for angle differences Δ.

    Every circle point has K⁰(x, x) = σ_w² r²/2 + σ_b² (d = 2), so one diagonal variance serves
    all pairs (indices i = j = 0), and K⁰(Δ) = σ_w² r² cos Δ/2 + σ_b².
    """

    def run(delta, r2, sigma_w2, sigma_b2, rho):
        q0 = jnp.full((1,), sigma_w2 * r2 / 2 + sigma_b2)
        k0 = sigma_w2 * r2 / 2 * jnp.cos(delta) + sigma_b2
        zero = jnp.zeros(delta.shape, dtype=jnp.int32)
        s, q_max = _propagate(phi, quad, depth, sigma_w2, sigma_b2, rho, zero, zero, q0, k0)
        return s.q[0], s.theta_diag[0], s.k, s.theta, q_max

    return jax.jit(run)


@functools.lru_cache(maxsize=64)
def _compiled_circle_lengths(phi: Nonlinearity, quad: qd.Quadrature, depth: int):
    """Jitted (r², σ_w², σ_b², ρ) ↦ q^0 … q^{L−1}, the variances the L layers of a circle see
    (the same length map as :func:`_layer`), so that the table path knows which panels it needs."""

    def run(r2, sigma_w2, sigma_b2, rho):
        def step(q, _):
            return sigma_w2 / rho * moments(phi, quad, q).F + sigma_b2, q[0]

        return jax.lax.scan(step, jnp.full((1,), sigma_w2 * r2 / 2 + sigma_b2), None, length=depth)[1]

    return jax.jit(run)


@functools.lru_cache(maxsize=64)
def _compiled_circle_table(phi: Nonlinearity, quad: qd.Quadrature, depth: int):
    """As :func:`_compiled_circle`, with r and D from the panels of :mod:`sigprop.correlation_tables`
    (an extra argument, so new panels or σ's never recompile): E[φ(u)φ(u')] = F(q) − q(1 − c) r(q, θ),
    E[φ'(u)φ'(u')] = D(q, θ). A layer whose q falls into an invalid panel uses the exact rule."""

    def run(delta, r2, sigma_w2, sigma_b2, rho, panels):
        zero = jnp.zeros(delta.shape, dtype=jnp.int32)

        def step(s, _):
            m = moments(phi, quad, s.q, coeffs=True)
            q = s.q[0]
            c = _correlation(s.k, s.q[zero], s.q[zero])

            def table(_):
                r, d = ct.panel_values(panels, q, c)
                return m.F[0] - q * (1.0 - c) * r, d

            def exact(_):
                return _pair_expectations(phi, quad, s.q, m.coeffs, zero, zero, c)

            K, Kc = jax.lax.cond(ct.panel_ok(panels, q), table, exact, None)
            new_q = sigma_w2 / rho * m.F + sigma_b2
            k = sigma_w2 * K + sigma_b2
            new = _State(new_q, new_q + sigma_w2 / rho * m.G * s.theta_diag, k, k + sigma_w2 * Kc * s.theta)
            return new, jnp.max(new.q)

        q0 = jnp.full((1,), sigma_w2 * r2 / 2 + sigma_b2)
        k0 = sigma_w2 * r2 / 2 * jnp.cos(delta) + sigma_b2
        s, q_max = jax.lax.scan(step, _State(q0, q0, k0, k0), None, length=depth)
        return s.q[0], s.theta_diag[0], s.k, s.theta, jnp.max(q_max, initial=q0[0])

    return jax.jit(run)


def _check_inputs(X, name: str) -> np.ndarray:
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be an array of numbers") from None
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidParameterError(
            f"{name} must be a non-empty 2-D array (n inputs × d features), got shape {X.shape}"
        )
    if not np.all(np.isfinite(X)):
        raise InvalidParameterError(f"{name} must be finite")
    return X


def _finite(*arrays: np.ndarray) -> None:
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise LengthMapDivergesError(
            "the kernel overflowed: the length map diverges (e.g. ReLU with σ_w²/ρ > 2) and the network is too deep"
        )


def _note(phi: Nonlinearity, quad: qd.Quadrature, q_max: float) -> str:
    """The accuracy warning of :func:`sigprop.point.point`, for the largest variance met in any layer."""
    limit = accurate_q_limit(phi, quad)
    if q_max <= limit:
        return ""
    return (
        f"max K(x, x) = {q_max:.3g} > {limit:.3g}: {quad.hermite_degree}-node Gauss–Hermite may lose accuracy "
        "(tanh: ~1e-8 relative at q = 5); pass quadrature=Quadrature(hermite_degree=600)"
    )


def kernels(
    phi: str | Nonlinearity,
    X,
    depth: int,
    sigma_w2: float,
    sigma_b2: float,
    dropout: float = 1.0,
    *,
    X2=None,
    quadrature: qd.Quadrature = qd.DEFAULT,
) -> Kernels:
    """NNGP K^L and NTK Θ^L of a depth-L network on the inputs X (and optionally X2).

    K⁰ = σ_w² x·x'/d + σ_b²; K^l = σ_w² E[φ(u)φ(u')] + σ_b²; Θ^l = K^l + σ_w² E[φ'(u)φ'(u')] Θ^{l−1},
    with σ_w²/ρ on the diagonal (see the module docstring; Lee et al. 2018, Jacot et al. 2018).
    All pairs of a layer are one batched call; depth is a ``lax.scan``; a new X of the same shape,
    or new σ's, reuse the compiled code.

    Args:
      phi: registry name, custom expression in ``x``, or :class:`~sigprop.nonlinearities.Nonlinearity`.
      X: inputs, shape (n, d).
      depth: number of hidden layers L (applications of φ), 0 … 100000; 0 is the linear model.
      sigma_w2: σ_w² > 0.
      sigma_b2: σ_b² ≥ 0.
      dropout: keep-probability ρ ∈ (0, 1] of the hidden activations (1 = no dropout).
      X2: optional second set of inputs (m, d); then the kernels are the n × m cross-kernels.
        X and X2 are distinct forward passes: with dropout (ρ < 1) an input present in both gets
        the off-diagonal value (independent masks), not K(x, x) with its σ_w²/ρ.
      quadrature: quadrature degrees. Smooth φ lose accuracy where K(x, x) exceeds
        ~4·hermite_degree/256 (README, "Accuracy").

    Returns:
      :class:`Kernels` with ``nngp`` and ``ntk`` of shape (n, n), or (n, m) with X2.

    Raises:
      InvalidParameterError: non-finite or badly shaped inputs, a bad depth or hyperparameter.
      LengthMapDivergesError: the kernel overflowed float64 (diverging length map, large depth).

    >>> import numpy as np
    >>> k = kernels("relu", np.eye(2), depth=1, sigma_w2=2.0, sigma_b2=0.0)
    >>> np.round(k.nngp, 12).tolist()        # K⁰ = I; He init keeps K(x, x); K(x, x') = 1/π at c = 0
    [[1.0, 0.318309886184], [0.318309886184, 1.0]]
    """
    phi = nonlinearity(phi)
    sw2, sb2, rho = validate(sigma_w2, sigma_b2, dropout)
    depth = check_int(depth, "depth", 0, MAX_DEPTH)
    X = _check_inputs(X, "X")
    if X2 is None:
        nngp, ntk, q_max = _compiled_symmetric(phi, quadrature, depth)(X, sw2, sb2, rho)
    else:
        X2 = _check_inputs(X2, "X2")
        if X2.shape[1] != X.shape[1]:
            raise InvalidParameterError(f"X and X2 must have the same dimension d, got {X.shape[1]} and {X2.shape[1]}")
        nngp, ntk, q_max = _compiled_cross(phi, quadrature, depth)(X, X2, sw2, sb2, rho)
    nngp, ntk = np.asarray(nngp), np.asarray(ntk)
    _finite(nngp, ntk)
    return Kernels(nngp, ntk, _note(phi, quadrature, float(q_max)))


def circle_kernels(
    phi: str | Nonlinearity,
    n_points: int,
    depth: int,
    sigma_w2: float,
    sigma_b2: float,
    dropout: float = 1.0,
    *,
    radius: float = 1.0,
    quadrature: qd.Quadrature = qd.DEFAULT,
    method: str = "exact",
) -> CircleKernels:
    """Kernels of n equally spaced points x(θ_j) = r (cos θ_j, sin θ_j), θ_j = 2πj/n (fast path).

    All inputs share K^l(x, x) = q^l, so one scalar length map q^{l+1} = σ_w²/ρ E[φ²] + σ_b² and the
    correlation map on the n//2 distinct angle differences Δ_k = 2πk/n give everything: the
    matrices are circulant, K[i, j] = K(Δ_{(j−i) mod n}). Equal to :func:`kernels` on the same
    inputs (d = 2), at O(n) instead of O(n²) cost per layer.

    Args:
      phi, depth, sigma_w2, sigma_b2, dropout, quadrature: as in :func:`kernels`.
      n_points: number of points n ≥ 1.
      radius: r > 0.
      method: ``"exact"`` (default): every bivariate expectation by the quadrature rule.
        ``"table"``: for kinked φ, E[φ(u)φ(u')] = E[φ²](q) − q(1 − c) r(q, θ) and E[φ'φ'] = D(q, θ)
        from per-φ Chebyshev panels in (q, θ ∈ [0, π]) built once (with the same ``quadrature``)
        and cached (:mod:`sigprop.correlation_tables`); the length map and E[φ'²] stay exact.
        Much faster for kinked φ (ReLU, 256 points, depth 50: ~0.85 s → a few ms) and, measured
        against ``"exact"`` (default quadrature, tests/test_kernels_tables.py): ≤ 1e-7 relative to
        the row's largest entry, measured ~1e-12, for ReLU, hard tanh, ELU and a custom kinked φ.
        With a coarse quadrature (the dashboard's) the two differ by that rule's own error (hard
        tanh ~2e-5 at σ_w² = 2, σ_b² = 0), the table being as close to the default-rule values.
        At c = −1 exactly (Δ = π with σ_b² = 0) E[φ'φ'] ~ √(1 + c) is ill-conditioned in both.
        Layers whose variance falls into a panel that does not meet its tolerance (e.g. hard
        tanh at q ≳ 50) use the exact rule. Smooth φ ignore it (their exact path is fast).

    Returns:
      :class:`CircleKernels` with the angles and the first rows; ``.nngp`` and ``.ntk`` give
      the matrices.

    >>> ck = circle_kernels("relu", 4, depth=1, sigma_w2=2.0, sigma_b2=0.0)
    >>> np.round(ck.nngp_row, 12).tolist()   # K⁰(Δ) = cos(Δ); K¹(Δ) = (sin Δ + (π − Δ) cos Δ)/π
    [1.0, 0.318309886184, 0.0, 0.318309886184]
    """
    phi = nonlinearity(phi)
    sw2, sb2, rho = validate(sigma_w2, sigma_b2, dropout)
    depth = check_int(depth, "depth", 0, MAX_DEPTH)
    n = check_int(n_points, "n_points", 1, MAX_POINTS)
    if not (isinstance(radius, int | float | np.floating) and math.isfinite(radius) and radius > 0):
        raise InvalidParameterError(f"radius must be a positive finite number, got {radius!r}")
    if method not in ("exact", "table"):
        raise InvalidParameterError(f"method must be 'exact' or 'table', got {method!r}")
    k = np.arange(1, n // 2 + 1)
    r2 = float(radius) ** 2
    if method == "table" and not phi.is_smooth:
        lengths = np.asarray(_compiled_circle_lengths(phi, quadrature, depth)(r2, sw2, sb2, rho))
        panels = ct.panels(phi, quadrature, lengths)
        run = _compiled_circle_table(phi, quadrature, depth)
        q, t, kk, tt, q_max = run(2 * np.pi * k / n, r2, sw2, sb2, rho, panels)
    else:
        q, t, kk, tt, q_max = _compiled_circle(phi, quadrature, depth)(2 * np.pi * k / n, r2, sw2, sb2, rho)
    lag = np.minimum(np.arange(1, n), n - np.arange(1, n)) - 1  # row entry j ≥ 1 is Δ_{min(j, n−j)}
    nngp_row = np.concatenate([[float(q)], np.asarray(kk)[lag]])
    ntk_row = np.concatenate([[float(t)], np.asarray(tt)[lag]])
    _finite(nngp_row, ntk_row)
    return CircleKernels(2 * np.pi * np.arange(n) / n, nngp_row, ntk_row, _note(phi, quadrature, float(q_max)))


def segment_kernels(
    phi: str | Nonlinearity,
    x_a,
    x_b,
    n_points: int,
    depth: int,
    sigma_w2: float,
    sigma_b2: float,
    dropout: float = 1.0,
    *,
    quadrature: qd.Quadrature = qd.DEFAULT,
) -> SegmentKernels:
    """Kernels on n equally spaced points of the segment x(t) = (1 − t) x_a + t x_b, t ∈ [0, 1].

    The inputs have different norms, so this is the general path (:func:`kernels`).

    Args:
      x_a, x_b: end points, vectors of the same length d.
      n_points: number of points n ≥ 2 (t_j = j/(n − 1)).
      phi, depth, sigma_w2, sigma_b2, dropout, quadrature: as in :func:`kernels`.
    """
    x_a, x_b = _check_inputs(np.atleast_2d(x_a), "x_a")[0], _check_inputs(np.atleast_2d(x_b), "x_b")[0]
    if x_a.shape != x_b.shape:
        raise InvalidParameterError(f"x_a and x_b must have the same length, got {x_a.size} and {x_b.size}")
    n = check_int(n_points, "n_points", 2, MAX_POINTS)
    t = np.linspace(0.0, 1.0, n)
    X = (1.0 - t)[:, None] * x_a + t[:, None] * x_b
    k = kernels(phi, X, depth, sigma_w2, sigma_b2, dropout, quadrature=quadrature)
    return SegmentKernels(t, X, k.nngp, k.ntk, k.note)
