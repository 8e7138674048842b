"""Finite-width simulations of deep random networks, beside the mean-field theory they test.

The network (Poole et al. 2016; Schoenholz et al. 2017, dropout as in their §5):

    z^{l+1} = W^{l+1} y^l + b^{l+1},   y^l = φ(z^l) ⊙ m^l/ρ,   z⁰ = x,

with W_ij ~ N(0, σ_w²/N_l) (N_l the width of layer l), b_i ~ N(0, σ_b²) and dropout masks
m ~ Bernoulli(ρ) drawn afresh per input, unit and layer. For every layer l = 0 … depth the
simulation records, per network ("seed") and input, the empirical length q^l_a = ‖z^l_a‖²/N,
correlation c^l_ab = (z_a·z_b/N)/√(q_a q_b), fourth moment (1/N) Σ_i (z^l_ia)⁴ and optionally the
squared norm of the input–output Jacobian applied to a random Gaussian tangent (``jax.jvp``):

    ‖δz^l‖²/‖δz⁰‖²  ≈  Π_{k<l} χ(q^k),   χ(q) = σ_w²/ρ E[φ'(√q z)²]

(Poole et al. 2016, eq. 7; at q* this is χ₁/ρ). Two engines sample the same distribution:

* ``"dense"`` draws real weight matrices, one layer at a time inside a ``lax.scan`` (only the
  per-layer PRNG keys exist for all layers; each W lives for one scan step), ``vmap``-ed over seeds.
  Cost O(N² m) per layer.
* ``"gram"`` is exact and O(N m²) per layer: conditionally on layer l the rows of Z^{l+1} are
  i.i.d. N(0, Σ) with Σ = σ_w² YᵀY/N_l + σ_b² (m × m), because the rows of W are i.i.d.
  Gaussian. So Z^{l+1} = G Aᵀ with G ~ N(0, 1) (N × m) and A Aᵀ = Σ (Cholesky, with an eigen
  fallback). With the Jacobian the pair (z, δz) is propagated jointly: [Z, δZ] has row covariance
  σ_w² [Y, δY]ᵀ[Y, δY]/N_l, the bias entering the Z block only.

Both are compiled once per static shape (φ, engine, widths, depth, inputs, seeds): σ_w², σ_b²
and ρ are traced, so sweeping them does not recompile.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from sigprop import _normal
from sigprop import quadrature as qd
from sigprop._config import devices
from sigprop.errors import InvalidParameterError
from sigprop.expectations import moments
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.point import check_int, validate
from sigprop.trajectories import _compiled as _compiled_trajectories
from sigprop.validation import real, shown

ENGINES = ("gram", "dense")
MAX_WIDTH = {"gram": 2**20, "dense": 8192}
"""Largest width per engine: the dense engine holds an N × N matrix per seed in flight."""
MAX_DEPTH = 10_000
MAX_SEEDS = 10_000
MAX_INPUTS = 64
MEMORY_BUDGET = 2 * 2**30
"""Bytes of working arrays allowed at once; seeds are processed in chunks that fit (``lax.map``)."""
JITTER = 1e-12
"""Relative diagonal jitter of the Cholesky factor: far below any statistical resolution."""
QUANTILES = (0.05, 0.95)

Params = tuple[jax.Array, jax.Array, jax.Array]  # (σ_w², σ_b², ρ), traced


# --------------------------------------------------------------------------------------------
# building blocks (pure; shapes static, parameters traced)
# --------------------------------------------------------------------------------------------


def covariance_factor(sigma: jax.Array, jitter: float = JITTER) -> jax.Array:
    """A with A Aᵀ = Σ for a symmetric positive semi-definite Σ (k × k).

    Cholesky of the symmetrised Σ plus a relative jitter ``jitter·tr Σ/k``; where that fails
    (NaN, e.g. Σ = 0 for a dead ReLU network) the eigen factor V diag(√max(λ, 0)) is used. The
    eigendecomposition runs only then (``lax.cond``; under ``vmap`` both branches run).
    """
    k = sigma.shape[-1]
    sym = 0.5 * (sigma + sigma.T)
    chol = jnp.linalg.cholesky(sym + jitter * jnp.trace(sym) / k * jnp.eye(k, dtype=sym.dtype))

    def eig(s):
        lam, vec = jnp.linalg.eigh(s)
        return vec * jnp.sqrt(jnp.maximum(lam, 0.0))

    return jax.lax.cond(jnp.all(jnp.isfinite(chol)), lambda s: chol, eig, sym)


def random_bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Uniform uint64 bits from the Threefry-2x64 counter generator of :mod:`sigprop._normal`.

    A pure function of ``key`` and the element's index, so under ``vmap`` every key draws its own
    stream: seed s is the same network however seeds are batched or split over devices.
    """
    return _normal.bits64(key, tuple(shape))


unit_uniform = _normal.unit_uniform
standard_normal = _normal.standard_normal


def apply_dropout(key: jax.Array, rho: jax.Array, arrays: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
    """Multiply each array by the same keep-mask m/ρ, m ~ Bernoulli(ρ) per entry (52-bit uniforms).

    At ρ = 1 the mask is skipped (``lax.cond``; ρ is shared by all seeds, so this stays a branch
    under ``vmap``) and nothing is drawn.
    """

    def masked(xs):
        keep = unit_uniform(random_bits(key, xs[0].shape)) < rho
        return tuple(jnp.where(keep, x / rho, 0.0) for x in xs)

    return jax.lax.cond(rho < 1.0, masked, lambda xs: xs, arrays)


def post_activation(phi: Nonlinearity, key: jax.Array, rho: jax.Array, z: jax.Array, dz: jax.Array | None):
    """y = φ(z) ⊙ m/ρ and, with a tangent, δy = φ'(z) δz ⊙ m/ρ (one ``jax.jvp``, the same mask)."""
    if dz is None:
        return apply_dropout(key, rho, (phi.fn(z),))[0], None
    return apply_dropout(key, rho, jax.jvp(phi.fn, (z,), (dz,)))


# A layer state is a tuple of column blocks (z_1, …, z_B), each with one row per input: z_j is
# (m, n_j) and the layer is their concatenation along the units, N_l = Σ n_j. The units are
# exchangeable and every statistic is a sum over them, so the blocks are never concatenated
# (XLA's CPU concatenation is slow): the Gram engine keeps the cos and sin halves of its Box–Muller
# pairs as two blocks. Rows are inputs so that the products y yᵀ and A g contract over the
# contiguous axis (about 3× faster on CPU than the (N_l, m) layout).

Blocks = tuple[jax.Array, ...]


def _gram(xs: Blocks, ys: Blocks) -> jax.Array:
    """Σ_j x_j y_jᵀ over the blocks: (m_x, m_y)."""
    return functools.reduce(jnp.add, (x @ y.T for x, y in zip(xs, ys, strict=True)))


def gram_layer(phi: Nonlinearity, key: jax.Array, zs: Blocks, dzs: Blocks | None, params: Params, width: int):
    """One exact layer in O(N m²): columns of [z'; δz'] ~ N(0, Σ), Σ = σ_w²[y; δy][y; δy]ᵀ/N_l + σ_b².

    The new layer is two blocks, z' = A (R cos Θ) and A (R sin Θ) for ⌈N/2⌉ Box–Muller pairs
    (:func:`sigprop._normal.normal_pair`; for odd N the last pair's sine is dropped).
    """
    sigma_w2, sigma_b2, rho = params
    k_mask, k_noise = jax.random.split(key)
    m = zs[0].shape[0]
    n_in = sum(z.shape[1] for z in zs)
    masks = [jax.random.fold_in(k_mask, j) for j in range(len(zs))]
    if dzs is None:
        ys = tuple(post_activation(phi, k, rho, z, None)[0] for k, z in zip(masks, zs, strict=True))
        sigma = sigma_w2 * _gram(ys, ys) / n_in + sigma_b2
    else:
        pairs = [post_activation(phi, k, rho, z, dz) for k, z, dz in zip(masks, zs, dzs, strict=True)]
        ys, dys = tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
        yy, yd, dd = _gram(ys, ys), _gram(ys, dys), _gram(dys, dys)
        bias = jnp.zeros((2 * m, 2 * m), yy.dtype).at[:m, :m].set(sigma_b2)
        sigma = sigma_w2 * jnp.block([[yy, yd], [yd.T, dd]]) / n_in + bias
    k = sigma.shape[0]
    factor = covariance_factor(sigma)
    half = -(-width // 2)
    g_cos, g_sin = _normal.normal_pair(k_noise, (k, half))
    noise = (g_cos, g_sin[:, : width - half]) if width > half else (g_cos,)
    out = tuple(factor @ g for g in noise)
    return (out, None) if dzs is None else (tuple(o[:m] for o in out), tuple(o[m:] for o in out))


def dense_layer(phi: Nonlinearity, key: jax.Array, zs: Blocks, dzs: Blocks | None, params: Params, width: int):
    """One layer with a real W ~ N(0, σ_w²/N_l) (width × N_l) and b ~ N(0, σ_b²); δz' by ``jax.jvp``.

    The state is a single block (the inputs are one, and so is every layer this engine makes).
    """
    sigma_w2, sigma_b2, rho = params
    k_w, k_b, k_mask = jax.random.split(key, 3)
    (z,) = zs
    n_in = z.shape[1]
    w = standard_normal(k_w, (width, n_in)) * jnp.sqrt(sigma_w2 / n_in)
    b = standard_normal(k_b, (1, width)) * jnp.sqrt(sigma_b2)

    def layer(x):
        return apply_dropout(k_mask, rho, (phi.fn(x),))[0] @ w.T + b

    if dzs is None:
        return (layer(z),), None
    out, dout = jax.jvp(layer, (z,), dzs)
    return (out,), (dout,)


LAYERS = {"gram": gram_layer, "dense": dense_layer}


def layer_statistics(zs: Blocks, dzs: Blocks | None, pairs: tuple[np.ndarray, np.ndarray]) -> dict:
    """Per-input q = ‖z‖²/N, m4 = Σ z⁴/N, ‖δz‖², and per-pair c = (z_a·z_b/N)/√(q_a q_b).

    ``zs`` are the layer's column blocks (m, n_j), N = Σ n_j: every statistic is a sum over blocks.
    """
    n = sum(z.shape[1] for z in zs)
    gram = _gram(zs, zs) / n
    q = jnp.diagonal(gram)
    a, b = pairs
    m4 = functools.reduce(jnp.add, (jnp.sum(z**4, axis=1) for z in zs)) / n
    out = {"q": q, "c": gram[a, b] / jnp.sqrt(q[a] * q[b]), "m4": m4}
    if dzs is not None:
        out["dz2"] = functools.reduce(jnp.add, (jnp.sum(dz * dz, axis=1) for dz in dzs))
    return out


def orthonormal_inputs(key: jax.Array, width: int, gram0: jax.Array) -> jax.Array:
    """x (width × m) with xᵀx/width = K⁰ exactly (to rounding), in a uniformly random orientation.

    x = √N Q Aᵀ with A Aᵀ = K⁰ and Q = G R⁻ᵀ (R Rᵀ = GᵀG) the Haar-distributed orthonormal
    frame of a Gaussian G (N × m); so each column is uniform on its sphere, like a typical input.
    Computed as x = G (√N A R⁻¹)ᵀ: the triangular solve is on the m × m identity, and the N-long
    part is one (N × m)(m × m) product (XLA's CPU triangular solve against the N × m matrix itself
    took ~8 ms per seed at N = 4096, m = 8).
    """
    m = gram0.shape[0]
    g = standard_normal(key, (width, m))
    r_inv = jax.scipy.linalg.solve_triangular(jnp.linalg.cholesky(g.T @ g), jnp.eye(m, dtype=g.dtype), lower=True)
    factor = covariance_factor(gram0, jitter=0.0)  # exact K⁰, eigen factor if singular
    return g @ (jnp.sqrt(width) * (factor @ r_inv).T)


def network(
    phi: Nonlinearity,
    engine: str,
    width: int,
    depth: int,
    pairs: tuple[np.ndarray, np.ndarray],
    jacobian: bool,
    generate: bool,
    key: jax.Array,
    x_or_gram: jax.Array,
    params: Params,
) -> dict:
    """Statistics of layers 0 … depth of one random network (one seed): arrays (depth + 1, ·).

    ``x_or_gram`` is the input matrix (N₀ × m) or, when ``generate``, the target input Gram
    matrix K⁰ (m × m) from which fresh orthonormal inputs are drawn for this seed. The first
    layer (N₀ → N) is applied before the ``lax.scan`` over the remaining depth − 1 layers.
    """
    k_in, k_tan, k_layers = jax.random.split(key, 3)
    x = (orthonormal_inputs(k_in, width, x_or_gram) if generate else x_or_gram).T  # rows are inputs
    dx = (standard_normal(k_tan, x.shape),) if jacobian else None
    x = (x,)
    layer = functools.partial(LAYERS[engine], phi, params=params, width=width)
    keys = jax.random.split(k_layers, depth)
    first = layer(keys[0], x, dx)

    def step(state, k):
        new = layer(k, *state)
        return new, layer_statistics(*new, pairs)

    _, rest = jax.lax.scan(step, first, keys[1:])
    head = [layer_statistics(x, dx, pairs), layer_statistics(*first, pairs)]
    return {name: jnp.concatenate([jnp.stack([h[name] for h in head]), rest[name]]) for name in rest}


_CPU_OPTIONS = {"xla_cpu_prefer_vector_width": 512}
"""XLA:CPU emits 256-bit vector loops by default; on CPUs with AVX-512 the fused sampler loop
(:func:`sigprop._normal.normal_pair`, 64-bit integer rounds and float polynomials) runs about 1.6×
faster with 512-bit vectors. On CPUs without them LLVM keeps the widest the CPU has."""


@functools.lru_cache(maxsize=32)
def _compiled(
    phi: Nonlinearity,
    engine: str,
    width: int,
    depth: int,
    n_inputs: int,
    seeds: int,
    batch: int,
    jacobian: bool,
    generate: bool,
) -> Callable:
    """jit of the simulation of ``seeds`` networks.

    Dense engine: one ``vmap``, or ``lax.map`` over chunks of ``batch`` seeds when the memory budget
    asks for it. Gram engine: one seed at a time (``lax.map`` without ``vmap``: each seed's
    O(N m) arrays stay in cache and its small matrix products stay unbatched, which XLA's CPU
    backend runs several times faster), the seeds dealt out to the CPU devices of
    :mod:`sigprop._config` with ``shard_map`` so that the cores work in parallel. Every random draw
    is a pure function of the seed's key, so each seed is the same network either way.
    """
    pairs = tuple(np.triu_indices(n_inputs, 1))
    n_dev = max(1, min(len(devices()), seeds)) if engine == "gram" else 1
    padded = -(-seeds // n_dev) * n_dev

    def networks(keys, x_or_gram, sigma_w2, sigma_b2, rho):
        def one(k):
            params = (sigma_w2, sigma_b2, rho)
            return network(phi, engine, width, depth, pairs, jacobian, generate, k, x_or_gram, params)

        if engine == "gram":
            return jax.lax.map(one, keys)
        if batch >= keys.shape[0]:
            return jax.vmap(one)(keys)
        return jax.lax.map(one, keys, batch_size=batch)

    if n_dev > 1:
        mesh = Mesh(np.array(devices()[:n_dev]), ("seeds",))
        spec, rep = PartitionSpec("seeds"), PartitionSpec()
        networks = jax.shard_map(
            networks, mesh=mesh, in_specs=(spec, rep, rep, rep, rep), out_specs=spec, check_vma=False
        )

    def run(key, x_or_gram, sigma_w2, sigma_b2, rho):
        keys = jax.random.split(key, seeds)
        keys = jnp.concatenate([keys, keys[: padded - seeds]])  # pad to a multiple of the devices
        out = networks(keys, x_or_gram, sigma_w2, sigma_b2, rho)
        return {name: v[:seeds] for name, v in out.items()}

    return jax.jit(run, compiler_options=_CPU_OPTIONS if jax.default_backend() == "cpu" else None)


# --------------------------------------------------------------------------------------------
# mean-field theory for the same inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Theory:
    """Mean-field predictions for layers 0 … depth.

    Attributes:
      q: q^l_a, shape (depth + 1, m).
      c: c^l_ab for the pairs of :attr:`SimulationResult.pairs`, shape (depth + 1, P).
      jacobian: Π_{k<l} χ(q^k_a) with χ(q) = σ_w²/ρ E[φ'(√q z)²], shape (depth + 1, m).
    """

    q: np.ndarray
    c: np.ndarray
    jacobian: np.ndarray


@functools.lru_cache(maxsize=32)
def _chi(phi: Nonlinearity) -> Callable:
    return jax.jit(lambda q, sigma_w2, rho: sigma_w2 / rho * moments(phi, qd.DEFAULT, q).G)


def mean_field(phi: Nonlinearity, sigma_w2: float, sigma_b2: float, rho: float, depth: int, gram0: np.ndarray):
    """q^l, c^l (pairwise, by :mod:`sigprop.trajectories`) and Π χ for inputs with Gram matrix K⁰.

    All pairs go through one batched call of the trajectory recursion (Poole et al. 2016,
    eqs. 3–5): the diagonal pairs (a, a) give q^l_a, the off-diagonal ones c^l_ab.
    """
    m = gram0.shape[0]
    q0 = np.diagonal(gram0).copy()
    a, b = np.triu_indices(m, 1)
    c0 = gram0[a, b] / np.sqrt(q0[a] * q0[b])
    starts = np.stack(
        [np.concatenate([q0, q0[a]]), np.concatenate([q0, q0[b]]), np.concatenate([np.ones(m), np.clip(c0, -1, 1)])]
    )
    unique, index = np.unique(starts, axis=1, return_inverse=True)  # equal inputs share one trajectory
    run = _compiled_trajectories(phi, qd.DEFAULT, depth)
    qa, _, c = (np.asarray(v)[:, index.ravel()] for v in run(sigma_w2, sigma_b2, rho, *map(jnp.asarray, unique)))
    q = qa[:, :m]
    chi = np.asarray(_chi(phi)(jnp.asarray(q[:-1].ravel()), sigma_w2, rho)).reshape(depth, m)
    with np.errstate(over="ignore"):  # Π χ overflows with q (a diverging length map): inf, see overflow_note
        jac = np.concatenate([np.ones((1, m)), np.cumprod(chi, axis=0)])
    return Theory(q=q, c=c[:, m:], jacobian=jac)


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


def _se(x: np.ndarray) -> np.ndarray:
    """Standard error of the mean over axis 0 (NaN with a single sample)."""
    n = x.shape[0]
    if n < 2:
        return np.full(x.shape[1:], np.nan)
    return np.std(x, axis=0, ddof=1) / math.sqrt(n)


def _json(a) -> list:
    """Nested lists of floats, with NaN and ±inf as ``None`` (strict JSON)."""
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a.astype(object), None).tolist()


@dataclass(frozen=True)
class SimulationResult:
    """Per-seed layer statistics of finite-width random networks, with the mean-field theory.

    Arrays are indexed [seed, layer, input] or [seed, layer, pair], layers 0 … depth (0 = inputs).
    Summary properties reduce over seeds: ``*_mean``, ``*_se`` (standard error of the mean) and
    ``*_lo``/``*_hi`` (5 % and 95 % quantiles).

    Attributes:
      q: ‖z^l_a‖²/N, shape (seeds, depth + 1, m).
      c: (z_a·z_b/N)/√(q_a q_b) for ``pairs``, shape (seeds, depth + 1, P), P = m(m − 1)/2.
      fourth_moment: (1/N) Σ_i (z^l_ia)⁴, shape (seeds, depth + 1, m) (see
        :func:`sigprop.finite_width.fourth_cumulant`).
      jacobian: ‖δz^l‖²/‖δz⁰‖² for a Gaussian tangent δz⁰, shape (seeds, depth + 1, m), or None.
      theory: the mean-field :class:`Theory` for the same inputs.
      pairs: the input pairs (a, b), a < b, of the ``c`` arrays.
      note: "" or what went out of float64's range (:func:`overflow_note`): those entries are NaN
        or inf here and ``None`` in :meth:`to_dict`.
    """

    phi: str
    engine: str
    sigma_w2: float
    sigma_b2: float
    dropout: float
    width: int
    input_width: int
    depth: int
    pairs: tuple[tuple[int, int], ...]
    q: np.ndarray
    c: np.ndarray
    fourth_moment: np.ndarray
    jacobian: np.ndarray | None
    theory: Theory
    note: str = ""

    @property
    def seeds(self) -> int:
        return int(self.q.shape[0])

    @property
    def layers(self) -> np.ndarray:
        return np.arange(self.depth + 1)

    @property
    def widths(self) -> np.ndarray:
        """N_l for l = 0 … depth (N₀ is the input width)."""
        return np.array([self.input_width] + [self.width] * self.depth)

    # summaries over seeds (axis 0): mean, standard error of the mean, 5 % and 95 % quantiles
    q_mean = property(lambda self: self.q.mean(axis=0))
    q_se = property(lambda self: _se(self.q))
    q_lo = property(lambda self: np.quantile(self.q, QUANTILES[0], axis=0))
    q_hi = property(lambda self: np.quantile(self.q, QUANTILES[1], axis=0))
    c_mean = property(lambda self: self.c.mean(axis=0))
    c_se = property(lambda self: _se(self.c))
    c_lo = property(lambda self: np.quantile(self.c, QUANTILES[0], axis=0))
    c_hi = property(lambda self: np.quantile(self.c, QUANTILES[1], axis=0))
    jacobian_mean = property(lambda self: None if self.jacobian is None else self.jacobian.mean(axis=0))
    jacobian_se = property(lambda self: None if self.jacobian is None else _se(self.jacobian))

    def to_dict(self) -> dict:
        """JSON-ready summary: nested lists, NaN/inf as ``None``.

        ``q_*`` are [layer][input]; ``c_*`` are [layer][pair], or a flat per-layer list when there
        is a single pair (the default two inputs).
        """
        pair = (lambda a: a[:, 0]) if len(self.pairs) == 1 else (lambda a: a)
        out = {
            "phi": self.phi,
            "engine": self.engine,
            "sigma_w2": self.sigma_w2,
            "sigma_b2": self.sigma_b2,
            "dropout": self.dropout,
            "width": self.width,
            "depth": self.depth,
            "seeds": self.seeds,
            "pairs": [list(p) for p in self.pairs],
            "layers": self.layers.tolist(),
        }
        with np.errstate(all="ignore"):  # overflowed layers (see ``note``) give inf/NaN summaries, null in JSON
            for name in ("mean", "se", "lo", "hi"):
                out[f"q_{name}"] = _json(getattr(self, f"q_{name}"))
                out[f"c_{name}"] = _json(pair(getattr(self, f"c_{name}")))
        out["q_theory"] = _json(self.theory.q)
        out["c_theory"] = _json(pair(self.theory.c))
        if self.jacobian is not None:
            out["jacobian_mean"] = _json(self.jacobian_mean)
            out["jacobian_se"] = _json(self.jacobian_se)
            out["jacobian_theory"] = _json(self.theory.jacobian)
        out["note"] = self.note
        return out


def overflow_note(q: np.ndarray, q_theory: np.ndarray) -> str:
    """Say from which layer the simulated or mean-field q^l left float64's range (or went NaN), else "".

    A diverging length map (ReLU with σ_w²/ρ > 2) doubles log q per layer, so deep enough networks
    overflow; the layers before stay exact and are kept.
    """
    parts = []
    for name, a in (("simulated", q), ("mean-field", q_theory)):
        bad = ~np.isfinite(a).reshape(-1, a.shape[-2], a.shape[-1]).all(axis=(0, 2))
        if bad.any():
            parts.append(f"the {name} q^l overflows float64 from layer {int(np.argmax(bad))} on")
    if not parts:
        return ""
    return "; ".join(parts) + " (the length map diverges); those layers' values are null/NaN"


# --------------------------------------------------------------------------------------------
# validation and the public entry point
# --------------------------------------------------------------------------------------------


def _given_inputs(inputs, engine: str) -> np.ndarray:
    """Validate user inputs (m × N₀, rows are inputs); return them as columns (N₀ × m)."""
    try:
        x = np.array(inputs, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError("inputs must be a numeric array of shape (n_inputs, input_width)") from None
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.size == 0 or not np.all(np.isfinite(x)):
        raise InvalidParameterError("inputs must be a finite 2-D array of shape (n_inputs, input_width)")
    check_int(x.shape[0], "the number of inputs", 1, MAX_INPUTS)
    check_int(x.shape[1], "the input width", 1, MAX_WIDTH[engine])
    if np.any(np.sum(x * x, axis=1) == 0.0):
        raise InvalidParameterError("every input must be non-zero (q⁰ > 0)")
    return x.T


def _target_gram(q0, c0, n_inputs, width: int) -> np.ndarray:
    """K⁰ = q⁰ [(1 − c⁰) I + c⁰ 11ᵀ], checked to be a valid (PSD) Gram matrix."""
    m = check_int(n_inputs, "n_inputs", 1, MAX_INPUTS)
    q0, c0 = real(q0, "q0"), real(c0, "c0")
    if not (math.isfinite(q0) and q0 > 0):
        raise InvalidParameterError(f"q0 must be a positive finite number, got {q0}")
    low = -1.0 / (m - 1) if m > 1 else -1.0
    if not (math.isfinite(c0) and low <= c0 <= 1.0):
        raise InvalidParameterError(f"c0 must be in [{low:g}, 1] for {m} inputs with equal correlations, got {c0}")
    if width < m:
        raise InvalidParameterError(f"width {width} is too small for {m} orthonormal inputs")
    return q0 * ((1.0 - c0) * np.eye(m) + c0 * np.ones((m, m)))


def _seed_bytes(engine: str, width: int, input_width: int, m: int, jacobian: bool) -> int:
    """Working bytes of one seed in flight: activations (a few copies) and, dense, one W."""
    k = 2 * m if jacobian else m
    activations = 8 * k * (6 * width + 2 * input_width)
    weights = 8 * 2 * width * max(width, input_width) if engine == "dense" else 0
    return activations + weights


MAX_SEED = 2**63 - 1
"""Largest integer seed (``jax.random.key`` takes a signed 64-bit integer)."""


def _key(seed) -> jax.Array:
    if isinstance(seed, jax.Array):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise InvalidParameterError(f"seed must be an integer in [0, 2⁶³ − 1] or a JAX PRNG key, got {shown(seed)}")
    return jax.random.key(int(seed))


def simulate(
    phi: str | Nonlinearity,
    sigma_w2: float,
    sigma_b2: float,
    width: int,
    depth: int,
    seeds: int,
    *,
    dropout: float = 1.0,
    inputs=None,
    q0: float | None = None,
    c0: float | None = None,
    n_inputs: int | None = None,
    engine: str = "gram",
    jacobian: bool = False,
    seed: int | jax.Array = 0,
) -> SimulationResult:
    """Simulate ``seeds`` independent random networks and record q^l, c^l (and δz) at every layer.

    Args:
      phi: registry name, custom expression in ``x``, or :class:`Nonlinearity`.
      sigma_w2: weight variance σ_w² > 0 (W ~ N(0, σ_w²/N)).
      sigma_b2: bias variance σ_b² ≥ 0.
      width: N, the width of every hidden layer (≤ 2²⁰ for ``gram``, ≤ 8192 for ``dense``).
      depth: number of layers L ≥ 1 (≤ 10⁴); layers 0 … L are recorded.
      seeds: number of independent networks S (≤ 10⁴).
      dropout: keep-probability ρ ∈ (0, 1].
      inputs: optional fixed inputs, shape (m, N₀), shared by all seeds. Without them every seed
        draws ``n_inputs`` fresh inputs of width N in a random orientation whose empirical
        q⁰ = ‖x_a‖²/N and c⁰ are exactly ``q0`` (default 1) and ``c0`` (default 0.5; default 2 inputs).
      q0, c0, n_inputs: the generated inputs (not allowed together with ``inputs``).
      engine: ``"gram"`` (exact, O(N m²) per layer) or ``"dense"`` (real weights, O(N² m)).
      jacobian: also propagate a Gaussian tangent δz⁰ by forward mode and record ‖δz^l‖²/‖δz⁰‖².
      seed: integer seed or JAX PRNG key.

    Returns:
      A :class:`SimulationResult`, with the mean-field :class:`Theory` for the same inputs.

    Raises:
      InvalidParameterError: a parameter is outside its domain or the run would not fit in memory.
      UnknownNonlinearityError: ``phi`` is not a known name or a valid expression.

    >>> r = simulate("tanh", 2.5, 0.1, width=256, depth=3, seeds=8)
    >>> r.q.shape, r.c.shape, round(float(r.theory.q[0, 0]), 12)
    ((8, 4, 2), (8, 4, 1), 1.0)
    """
    phi = nonlinearity(phi)
    sw2, sb2, rho = validate(sigma_w2, sigma_b2, dropout)
    if engine not in ENGINES:
        raise InvalidParameterError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    width = check_int(width, "width", 1, MAX_WIDTH[engine])
    depth = check_int(depth, "depth", 1, MAX_DEPTH)
    seeds = check_int(seeds, "seeds", 1, MAX_SEEDS)
    key = _key(seed)
    generate = inputs is None
    if generate:
        gram0 = _target_gram(1.0 if q0 is None else q0, 0.5 if c0 is None else c0,
                             2 if n_inputs is None else n_inputs, width)
        data, input_width = gram0, width
    else:
        if (q0, c0, n_inputs) != (None, None, None):
            raise InvalidParameterError("give either inputs or q0/c0/n_inputs, not both")
        data = _given_inputs(inputs, engine)
        input_width = data.shape[0]
        gram0 = data.T @ data / input_width
    m = gram0.shape[0]
    per_seed = _seed_bytes(engine, width, input_width, m, bool(jacobian))
    outputs = 8 * seeds * (depth + 1) * (4 * m + m * (m - 1) // 2)
    if per_seed > MEMORY_BUDGET or outputs > MEMORY_BUDGET:
        raise InvalidParameterError(
            f"this run needs ~{max(per_seed, outputs) / 2**30:.1f} GiB at once (limit "
            f"{MEMORY_BUDGET / 2**30:.0f} GiB): reduce width, depth, seeds or inputs"
        )
    batch = max(1, min(seeds, MEMORY_BUDGET // per_seed))
    run = _compiled(phi, engine, width, depth, m, seeds, batch, bool(jacobian), generate)
    stats = {k: np.asarray(v) for k, v in run(key, jnp.asarray(data), sw2, sb2, rho).items()}
    jac = stats["dz2"] / stats["dz2"][:, :1] if jacobian else None
    theory = mean_field(phi, sw2, sb2, rho, depth, gram0)
    return SimulationResult(
        phi=phi.name,
        engine=engine,
        sigma_w2=sw2,
        sigma_b2=sb2,
        dropout=rho,
        width=width,
        input_width=input_width,
        depth=depth,
        pairs=tuple(zip(*(map(int, v) for v in np.triu_indices(m, 1)), strict=True)),
        q=stats["q"],
        c=stats["c"],
        fourth_moment=stats["m4"],
        jacobian=jac,
        theory=theory,
        note=overflow_note(stats["q"], theory.q),
    )
