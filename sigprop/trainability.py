"""Trainability of deep tanh networks on real data, beside the depth scale 6ξ_c of mean-field theory.

Schoenholz et al. 2017 ("Deep Information Propagation", ICLR; the trainability figures of
their experiments) train fully connected tanh networks of depth L with SGD on MNIST and
CIFAR-10 over a grid of (L, σ_w²) at σ_b² = 0.05, and find that a network trains only if
L ≲ 6ξ_c: the correlation between two inputs relaxes to c* as |c^l − c*| ∝ e^{−l/ξ_c} with
ξ_c = −1/log χ_c (their §3; ξ_c → ∞ on the critical line χ₁ = 1), so beyond a few ξ_c layers the
output no longer tells inputs apart, and gradients vanish or explode over the same scale. Here
the same experiment runs on scikit-learn's handwritten digits (``load_digits``: 1,797 images of
8×8 pixels, 10 classes; nothing to download).

The network, with L hidden layers of width N and a linear softmax readout:

    h⁰ = x,   z^l = h^{l−1} W^l + b^l,   h^l = tanh(z^l)   (l = 1 … L),   logits = h^L W^o + b^o,
    W^l_ij ~ N(0, σ_w²/n_{l−1}),   b^l_i ~ N(0, σ_b²)   (also for the readout W^o, b^o).

Training: plain SGD θ ← θ − η ∇_θ ℓ on the mean softmax cross-entropy ℓ of a minibatch of B
images drawn uniformly with replacement each step, for a fixed number of steps; the train
accuracy and loss are then measured on all 1,797 images (the training set). Inputs are
standardised per pixel (mean 0, variance 1; the 3 constant pixels become 0), so q⁰ = 61/64.

Numerics and layout (measured on the project's 2-core CPU, width 128, batch 128, depth 50;
``benchmarks/bench_trainability.py --compare``):

* Training runs in float32: 13,000 layer-steps/s against 5,500 in float64 (2.4×). The theory
  (ξ_c, the critical point) stays float64.
* Depth changes the shapes, so cells are grouped by depth: one compiled function per depth
  (~2 s to compile), in which the hidden layers' weights are one (L−1, N, N) array and the forward
  pass is a ``lax.scan`` over them. A masked scan to the largest depth would need one compilation
  but cost L_max instead of L per cell: 1.8× the work for depths 10, 20, …, 100.
* Within a depth, the cells (σ_w², replica) are dealt out to the XLA CPU devices (``shard_map``;
  sigprop asks for one per core) and each device runs ``lax.map`` over groups of ``cell_batch``
  cells, ``vmap``-ed within a group. On the CPU, groups of 4 took 1.1–1.6× the CPU time of
  groups of 1 (XLA's batched small matmuls are no faster than single ones there), so
  ``cell_batch = 1`` is the default; on a GPU use large groups.
* A cell's result depends only on its depth, σ_w², replica, the seed and ``cell_batch``, never on
  how the grid is cut into chunks or devices: its weights come from
  fold_in(key(seed), depth, replica), and its minibatches from fold_in(key(seed), replica, step).
  The same standard-normal draws are scaled by σ_w and σ_b for every σ_w² (common random numbers),
  which keeps neighbouring columns of the figure comparable.

:func:`trainability` runs the grid as a chunked, resumable sweep (:mod:`sigprop.sweep`; in process
or on Dask); :func:`agreement` measures how well L ≤ 6ξ_c predicts which cells train.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from sigprop import sweep
from sigprop._config import devices
from sigprop.errors import InvalidParameterError
from sigprop.point import check_int, validate

N_CLASSES = 10
MIN_WIDTH, MAX_WIDTH = 8, 4096
MAX_DEPTH = 1000
MAX_STEPS = 10**6
MAX_SEEDS = 64
MAX_CELLS = 100_000
MAX_LR = 100.0
DTYPES = ("float32", "float64")
MEMORY_BUDGET = 2 * 2**30
"""Bytes of training state allowed per device: ``cell_batch`` networks are in flight on each."""
STEPS, LR, BATCH, WIDTH = 600, 0.005, 128, 128
"""Defaults of the full run: with η = 0.005, 600 steps of batch 128 train critical depth-100 networks
at width 128 (η = 0.01 and 0.03 did not within 1,000 and 300 steps; measured on depth 50 and 100)."""
FIELDS = ("accuracy", "loss", "finite")
DEFAULT_THRESHOLD = 0.5
"""Train accuracy above which a cell counts as trained (chance is 0.1 for 10 balanced classes)."""


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits, standardised per pixel: X (1797, 64) float64, y (1797,) int32.

    Each pixel has mean 0 and variance 1 over the data set; the 3 pixels that are 0 in every image
    stay 0. The arrays are read-only (cached).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError("the trainability experiment needs scikit-learn (pip install sigprop[trainability])") from err
    data = load_digits()
    x = data.data.astype(np.float64)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    y = data.target.astype(np.int32)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


# --------------------------------------------------------------------------------------------
# the network and its training (pure; shapes static)
# --------------------------------------------------------------------------------------------


class Params(NamedTuple):
    """A depth-L network: input layer (d, N), L − 1 hidden layers stacked (L−1, N, N), readout (N, K)."""

    w_in: jax.Array
    b_in: jax.Array
    w: jax.Array
    b: jax.Array
    w_out: jax.Array
    b_out: jax.Array


def init_params(key, sigma_w2, sigma_b2, depth: int, width: int, d_in: int, n_out: int, dtype) -> Params:
    """W^l ~ N(0, σ_w²/n_{l−1}), b^l ~ N(0, σ_b²): standard normals from ``key`` scaled by σ_w/√n, σ_b.

    The draws depend on ``key`` and the shapes only, so every σ_w² gets the same standard normals.
    All of them come from one ``jax.random.normal`` call, cut into the parameters (one call
    compiles in a seventh of the time of six).
    """
    n = width
    shapes = ((d_in, n), (n,), (depth - 1, n, n), (depth - 1, n), (n, n_out), (n_out,))
    fan_in = (d_in, None, n, None, n, None)
    sizes = [math.prod(s) for s in shapes]
    z = jax.random.normal(key, (sum(sizes),), dtype)
    s_w, s_b = jnp.sqrt(sigma_w2).astype(dtype), jnp.sqrt(sigma_b2).astype(dtype)
    parts, start = [], 0
    for shape, size, fan in zip(shapes, sizes, fan_in, strict=True):
        block = z[start : start + size].reshape(shape)
        parts.append(block * (s_w / math.sqrt(fan)) if fan else block * s_b)
        start += size
    return Params(*parts)


def forward(params: Params, x: jax.Array) -> jax.Array:
    """Logits h^L W^o + b^o of a batch x (B, d); the hidden layers are a ``lax.scan``."""
    h = jnp.tanh(x @ params.w_in + params.b_in)

    def layer(h, wb):
        return jnp.tanh(h @ wb[0] + wb[1]), None

    h, _ = jax.lax.scan(layer, h, (params.w, params.b))
    return h @ params.w_out + params.b_out


def cross_entropy(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy ℓ = ⟨logsumexp(logits) − logits_y⟩ over the batch."""
    logits = forward(params, x)
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, y[:, None], axis=-1)[:, 0])


def batch_indices(key, step, batch: int, n: int) -> jax.Array:
    """The ``step``-th minibatch: ``batch`` indices in [0, n), uniform with replacement."""
    return jax.random.randint(jax.random.fold_in(key, step), (batch,), 0, n)


def sgd(params: Params, x, y, key, lr, steps: int, batch: int) -> Params:
    """``steps`` steps of plain SGD θ ← θ − η ∇ℓ(θ; minibatch) (a ``lax.scan`` over steps)."""
    grad = jax.grad(cross_entropy)

    def step(p, t):
        idx = batch_indices(key, t, batch, x.shape[0])
        g = grad(p, x[idx], y[idx])
        return jax.tree.map(lambda a, b: a - lr * b, p, g), None

    params, _ = jax.lax.scan(step, params, jnp.arange(steps))
    return params


def evaluate(params: Params, x, y) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(accuracy, mean cross-entropy, finite) on (x, y). A network whose logits are not all finite
    (SGD diverged) classifies nothing: its accuracy is 0 and its loss ``inf``."""
    logits = forward(params, x)
    finite = jnp.all(jnp.isfinite(logits))
    acc = jnp.mean(jnp.argmax(logits, axis=-1) == y).astype(jnp.float64)
    loss = jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, y[:, None], axis=-1)[:, 0])
    return jnp.where(finite, acc, 0.0), jnp.where(finite, loss.astype(jnp.float64), jnp.inf), finite


def cell_keys(seed, depth: int, replica) -> tuple[jax.Array, jax.Array]:
    """(init key, minibatch key) of one cell: fold_in(key(seed), 0, depth, replica) and
    fold_in(key(seed), 1, replica). Neither depends on σ_w², nor on the chunk the cell is in."""
    root = jax.random.key(seed)
    init = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(root, 0), depth), replica)
    return init, jax.random.fold_in(jax.random.fold_in(root, 1), replica)


def train_network(x, y, sigma_w2, replica, sigma_b2, lr, seed, *, depth, width, steps, batch, dtype):
    """Initialise one network, train it, and return (accuracy, loss, finite) on (x, y). Pure."""
    init_key, batch_key = cell_keys(seed, depth, replica)
    params = init_params(init_key, sigma_w2, sigma_b2, depth, width, x.shape[1], N_CLASSES, dtype)
    params = sgd(params, x, y, batch_key, jnp.asarray(lr, dtype), steps, batch)
    return evaluate(params, x, y)


@functools.lru_cache(maxsize=64)
def _compiled_cells(depth: int, width: int, steps: int, batch: int, dtype: str, cell_batch: int, n_devices: int):
    """jit of: cells (n_devices · k · cell_batch of them) → ``lax.map`` over groups of ``vmap`` over
    ``cell_batch`` cells, the groups split over ``n_devices`` devices (``shard_map``)."""
    one = functools.partial(train_network, depth=depth, width=width, steps=steps, batch=batch, dtype=jnp.dtype(dtype))

    def run(x, y, sigma_w2, replica, sigma_b2, lr, seed):
        group = jax.vmap(lambda w, r: one(x, y, w, r, sigma_b2, lr, seed))
        out = jax.lax.map(lambda a: group(*a), (sigma_w2.reshape(-1, cell_batch), replica.reshape(-1, cell_batch)))
        return tuple(v.reshape(-1) for v in out)

    if n_devices == 1:
        return jax.jit(run)
    mesh = Mesh(np.array(devices()[:n_devices]), ("cells",))
    spec, rep = PartitionSpec("cells"), PartitionSpec()
    return jax.jit(
        jax.shard_map(run, mesh=mesh, in_specs=(rep, rep, spec, spec, rep, rep, rep), out_specs=(spec, spec, spec))
    )


def train_cells(
    depth: int,
    sigma_w2,
    replica,
    *,
    sigma_b2: float,
    width: int,
    steps: int,
    lr: float,
    batch: int,
    seed: int = 0,
    dtype: str = "float32",
    cell_batch: int = 1,
    data: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Train one network per cell (σ_w²[i], replica[i]) at one depth; one compiled call.

    Returns ``{"accuracy", "loss", "finite"}``, arrays of the cells' length. ``data`` defaults to
    :func:`digits`. Cells are padded (repeating the last) to a multiple of devices × ``cell_batch``.
    """
    x, y = digits() if data is None else data
    w = np.atleast_1d(np.asarray(sigma_w2, dtype=np.float64))
    r = np.atleast_1d(np.asarray(replica, dtype=np.int64))
    n = w.size
    n_dev = max(1, min(len(devices()), -(-n // cell_batch)))
    pad = -n % (n_dev * cell_batch)
    w, r = np.concatenate([w, np.repeat(w[-1:], pad)]), np.concatenate([r, np.repeat(r[-1:], pad)])
    fn = _compiled_cells(depth, width, steps, batch, dtype, cell_batch, n_dev)
    out = fn(jnp.asarray(x, dtype), jnp.asarray(y), jnp.asarray(w), jnp.asarray(r), sigma_b2, lr, seed)
    return {k: np.asarray(v, dtype=np.float64)[:n] for k, v in zip(FIELDS, out, strict=True)}


# --------------------------------------------------------------------------------------------
# the experiment: grid, sweep, theory
# --------------------------------------------------------------------------------------------


def _check_positive(value, name: str, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and 0.0 < v <= hi):
        raise InvalidParameterError(f"{name} must be in (0, {hi:g}], got {value!r}")
    return v


@dataclass(frozen=True)
class TrainabilitySpec:
    """A trainability sweep: the grid (depths × σ_w² × replicas) and the training settings.

    Checked on construction (:class:`~sigprop.errors.InvalidParameterError` for bad values).
    """

    depths: tuple[int, ...]
    sigma_w2: tuple[float, ...]
    sigma_b2: float = 0.05
    width: int = WIDTH
    steps: int = STEPS
    lr: float = LR
    batch: int = BATCH
    seed: int = 0
    seeds: int = 1
    dtype: str = "float32"
    cell_batch: int = 1

    def __post_init__(self):
        depths = np.atleast_1d(np.asarray(self.depths))
        if depths.ndim != 1 or depths.size == 0:
            raise InvalidParameterError("depths must be a non-empty list of integers")
        depths = tuple(check_int(d.item() if hasattr(d, "item") else d, "depth", 1, MAX_DEPTH) for d in depths)
        if len(set(depths)) != len(depths):
            raise InvalidParameterError(f"depths must be distinct, got {list(depths)}")
        ws = np.atleast_1d(np.asarray(self.sigma_w2, dtype=object))
        if ws.ndim != 1 or ws.size == 0:
            raise InvalidParameterError("sigma_w2 must be a non-empty list of numbers")
        ws = tuple(validate(w, 0.0, 1.0)[0] for w in ws)
        if len(set(ws)) != len(ws):
            raise InvalidParameterError("sigma_w2 values must be distinct")
        sb2 = validate(1.0, self.sigma_b2, 1.0)[1]
        n_data = digits()[0].shape[0]
        values = {
            "depths": depths,
            "sigma_w2": ws,
            "sigma_b2": sb2,
            "width": check_int(self.width, "width", MIN_WIDTH, MAX_WIDTH),
            "steps": check_int(self.steps, "steps", 1, MAX_STEPS),
            "lr": _check_positive(self.lr, "learning rate", MAX_LR),
            "batch": check_int(self.batch, "batch", 1, n_data),
            "seed": check_int(self.seed, "seed", 0, 2**32 - 1),
            "seeds": check_int(self.seeds, "seeds", 1, MAX_SEEDS),
            "cell_batch": check_int(self.cell_batch, "cell_batch", 1, 1024),
        }
        if self.dtype not in DTYPES:
            raise InvalidParameterError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        for k, v in values.items():
            object.__setattr__(self, k, v)
        if self.n_cells > MAX_CELLS:
            raise InvalidParameterError(f"the grid has {self.n_cells} cells; at most {MAX_CELLS} are allowed")
        need = self.cell_batch * cell_bytes(max(depths), self.width, self.batch, self.dtype)
        if need > MEMORY_BUDGET:
            raise InvalidParameterError(
                f"{self.cell_batch} network(s) of depth {max(depths)} and width {self.width} need ~{need / 2**30:.1f} "
                f"GiB to train (more than {MEMORY_BUDGET / 2**30:g} GiB); use a smaller width, depth or cell_batch"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(depths, σ_w² values, replicas)."""
        return len(self.depths), len(self.sigma_w2), self.seeds

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape))

    def manifest(self) -> dict:
        """The JSON parameters of the sweep (what a resumed sweep must match), with the data set."""
        x, _ = digits()
        return {"experiment": "sigprop.trainability", "version": 1, "data": f"sklearn load_digits {x.shape}",
                "phi": "tanh"} | {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def cell_bytes(depth: int, width: int, batch: int, dtype: str) -> int:
    """Rough training memory of one network: parameters, gradients and the update (3 copies; the
    input and readout layers counted as 80 × width) plus the activations the backward pass keeps
    (2 per layer and example) and one forward pass over the 1,797 images."""
    item = np.dtype(dtype).itemsize
    params = depth * width * width + 80 * width
    return item * (3 * params + 2 * depth * batch * width + 2 * 1797 * width)


def plan(spec: TrainabilitySpec, chunks_per_depth: int = 1) -> list[sweep.Chunk]:
    """Chunks (tasks) of the sweep: each depth's cells (σ_w² × replicas) cut into
    ``chunks_per_depth`` contiguous pieces; a chunk's cost is cells × depth × steps."""
    check_int(chunks_per_depth, "chunks", 1, MAX_CELLS)
    nd, nw, ns = spec.shape
    cells = np.arange(spec.n_cells).reshape(nd, nw * ns)
    out = []
    for i, depth in enumerate(spec.depths):
        out += sweep.split_chunks(i, cells[i], chunks_per_depth, cost_per_cell=depth * spec.steps)
    return out


def train_chunk(spec: TrainabilitySpec, chunk: sweep.Chunk) -> dict[str, np.ndarray]:
    """Train the cells of one chunk (all of one depth); the task that a sweep sends to a worker."""
    _, nw, ns = spec.shape
    cells = np.asarray(chunk.cells)
    i_d, rest = np.divmod(cells, nw * ns)
    if np.any(i_d != chunk.group):
        raise InvalidParameterError("a chunk must hold cells of one depth")
    i_w, replica = np.divmod(rest, ns)
    return train_cells(
        spec.depths[chunk.group],
        np.asarray(spec.sigma_w2)[i_w],
        replica,
        sigma_b2=spec.sigma_b2,
        width=spec.width,
        steps=spec.steps,
        lr=spec.lr,
        batch=spec.batch,
        seed=spec.seed,
        dtype=spec.dtype,
        cell_batch=spec.cell_batch,
    )


def six_xi_c(sigma_w2, sigma_b2: float) -> np.ndarray:
    """6ξ_c(σ_w²) for tanh at fixed σ_b², ξ_c = −1/log χ_c from the float64 phase diagram
    (:func:`sigprop.phase_diagram.phase_diagram`; ``inf`` where χ₁ = 1). Schoenholz et al. 2017:
    networks train only for L ≲ 6ξ_c."""
    from sigprop.phase_diagram import phase_diagram

    return 6.0 * phase_diagram("tanh", np.asarray(sigma_w2, dtype=np.float64), [sigma_b2]).xi_c[0]


def critical_sigma_w2(sigma_b2: float) -> float:
    """σ_w² of the critical point χ₁ = 1 of tanh at this σ_b² (:func:`sigprop.critical.critical_point`)."""
    from sigprop.critical import critical_point

    return critical_point("tanh", sigma_b2).sigma_w2


@dataclass(frozen=True)
class TrainabilityResult:
    """Train accuracy and loss over the grid, beside 6ξ_c.

    ``accuracy_seeds``, ``loss_seeds`` and ``finite_seeds`` are indexed ``[i_depth, i_sigma_w2,
    replica]``; ``accuracy`` and ``loss`` are their means over replicas. ``theory_sigma_w2`` and
    ``theory_six_xi_c`` are a fine curve of 6ξ_c for the figure.
    """

    spec: TrainabilitySpec
    accuracy_seeds: np.ndarray
    loss_seeds: np.ndarray
    finite_seeds: np.ndarray
    six_xi_c: np.ndarray
    critical_sigma_w2: float
    theory_sigma_w2: np.ndarray
    theory_six_xi_c: np.ndarray
    computed_cells: int = 0
    loaded_cells: int = 0

    @property
    def depths(self) -> np.ndarray:
        return np.asarray(self.spec.depths)

    @property
    def sigma_w2(self) -> np.ndarray:
        return np.asarray(self.spec.sigma_w2)

    @property
    def accuracy(self) -> np.ndarray:
        """Mean train accuracy over replicas, (depths, σ_w²)."""
        return self.accuracy_seeds.mean(axis=-1)

    @property
    def loss(self) -> np.ndarray:
        """Mean train loss over replicas, (depths, σ_w²); ``inf`` where a replica diverged."""
        return self.loss_seeds.mean(axis=-1)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as arrays (for ``np.savez``), the spec's settings included."""
        s = self.spec
        return {
            "depths": self.depths,
            "sigma_w2": self.sigma_w2,
            "accuracy": self.accuracy,
            "loss": self.loss,
            "accuracy_seeds": self.accuracy_seeds,
            "loss_seeds": self.loss_seeds,
            "finite_seeds": self.finite_seeds,
            "six_xi_c": self.six_xi_c,
            "critical_sigma_w2": np.array(self.critical_sigma_w2),
            "theory_sigma_w2": self.theory_sigma_w2,
            "theory_six_xi_c": self.theory_six_xi_c,
        } | {k: np.array(getattr(s, k)) for k in ("sigma_b2", "width", "steps", "lr", "batch", "seed", "seeds",
                                                   "dtype", "cell_batch")}

    def rows(self) -> dict[str, np.ndarray]:
        """Long-format columns, one row per (depth, σ_w²): depth, sigma_w2, train_accuracy, loss, six_xi_c."""
        d, w = np.meshgrid(self.depths, self.sigma_w2, indexing="ij")
        return {
            "depth": d.ravel(),
            "sigma_w2": w.ravel(),
            "train_accuracy": self.accuracy.ravel(),
            "loss": self.loss.ravel(),
            "six_xi_c": np.broadcast_to(self.six_xi_c, d.shape).ravel(),
        }


def trainability(
    depths,
    sigma_w2,
    sigma_b2: float = 0.05,
    *,
    width: int = WIDTH,
    steps: int = STEPS,
    lr: float = LR,
    batch: int = BATCH,
    seed: int = 0,
    seeds: int = 1,
    dtype: str = "float32",
    cell_batch: int = 1,
    out_dir: str | os.PathLike | None = None,
    scheduler=None,
    chunks: int = 1,
    progress: bool = False,
) -> TrainabilityResult:
    """Train tanh networks on the digits over a (depth × σ_w²) grid, and compute 6ξ_c beside them.

    Args:
      depths: hidden-layer counts L ≥ 1 (distinct).
      sigma_w2: weight variances σ_w² > 0 (distinct).
      sigma_b2: bias variance σ_b² ≥ 0 (0.05 in Schoenholz et al. 2017).
      width: hidden width N.
      steps, lr, batch: SGD steps, learning rate η and minibatch size B.
      seed, seeds: base seed and replicas (independent networks) per (L, σ_w²).
      dtype: training precision, ``"float32"`` (default) or ``"float64"``.
      cell_batch: cells ``vmap``-ed together (1 is fastest on CPU; results depend on it bitwise).
      out_dir: directory for the manifest and finished chunks; a rerun resumes from it.
      scheduler: None (in process), ``"local"`` (a Dask LocalCluster), an address, or a Client.
      chunks: pieces each depth's row of cells is cut into (tasks).
      progress: tqdm bar on stderr.

    Raises:
      InvalidParameterError: a bad setting (depth < 1, σ_w² ≤ 0, width out of [8, 4096], ...).
      SweepMismatchError: ``out_dir`` holds a sweep with other settings.

    >>> r = trainability([2, 4], [1.0, 2.0], width=8, steps=5, batch=16)
    >>> r.accuracy.shape, bool(r.six_xi_c[0] < r.six_xi_c[1])
    ((2, 2), True)
    """
    spec = TrainabilitySpec(tuple(np.atleast_1d(depths).tolist()), tuple(np.atleast_1d(sigma_w2).tolist()),
                            sigma_b2, width, steps, lr, batch, seed, seeds, dtype, cell_batch)
    return run(spec, out_dir=out_dir, scheduler=scheduler, chunks=chunks, progress=progress)


def run(spec: TrainabilitySpec, *, out_dir=None, scheduler=None, chunks: int = 1, progress: bool = False):
    """Run (or resume) the sweep of ``spec`` and add the theory: see :func:`trainability`."""
    outcome = sweep.run_sweep(
        functools.partial(train_chunk, spec),
        plan(spec, chunks),
        FIELDS,
        spec.n_cells,
        out_dir=out_dir,
        manifest=spec.manifest() if out_dir is not None else None,
        scheduler=scheduler,
        progress=progress,
        desc="trainability",
    )
    grids = {k: v.reshape(spec.shape) for k, v in outcome.fields.items()}
    w = np.asarray(spec.sigma_w2)
    fine = np.linspace(min(w.min(), 1.0), max(w.max(), 1.0), 400)
    crit = critical_sigma_w2(spec.sigma_b2)
    fine = np.unique(np.concatenate([fine, [crit]]))
    return TrainabilityResult(
        spec,
        grids["accuracy"],
        grids["loss"],
        grids["finite"].astype(bool),
        six_xi_c(w, spec.sigma_b2),
        crit,
        fine,
        six_xi_c(fine, spec.sigma_b2),
        computed_cells=outcome.computed_cells,
        loaded_cells=outcome.loaded_cells,
    )


# --------------------------------------------------------------------------------------------
# agreement with 6ξ_c, figure, files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """How well "L ≤ 6ξ_c" predicts "trains" (train accuracy ≥ ``threshold``), over grid cells.

    ``inside_trained``: fraction of the cells with L ≤ 6ξ_c that train; ``outside_trained``: of
    those with L > 6ξ_c; ``far_trained``: of those with L > 1.5 · 6ξ_c (:data:`FAR`);
    ``agreement``: fraction of all cells where the prediction is right. Per σ_w²,
    ``deepest_trained`` is the deepest depth that trains (NaN if none) and ``boundary_ratio`` the
    median of deepest_trained / 6ξ_c over the σ_w² whose boundary lies inside the grid (some but not
    all depths train; resolution: the depth spacing).
    """

    threshold: float
    inside_cells: int
    inside_trained: float
    outside_cells: int
    outside_trained: float
    far_cells: int
    far_trained: float
    agreement: float
    boundary_ratio: float
    deepest_trained: np.ndarray
    six_xi_c: np.ndarray

    def summary(self) -> str:
        """One line, e.g. "trains = train accuracy ≥ 0.5: 100% of the 94 cells with L ≤ 6ξ_c train, ..."."""

        def part(fraction: float, cells: int, where: str) -> str:
            if not cells:
                return f"no cells with {where}"
            return f"{100 * fraction:.0f}% of the {cells} cells with {where} train"

        inside = part(self.inside_trained, self.inside_cells, "L ≤ 6ξ_c")
        outside = part(self.outside_trained, self.outside_cells, "L > 6ξ_c")
        far = part(self.far_trained, self.far_cells, f"L > {FAR:g}·6ξ_c")
        boundary = f"; deepest trained L ≈ {self.boundary_ratio:.2f}·6ξ_c (median)" if self.boundary_ratio > 0 else ""
        return (
            f"trains = train accuracy ≥ {self.threshold:g}: {inside}, {outside}, {far}; "
            f"6ξ_c classifies {100 * self.agreement:.0f}% of all cells correctly{boundary}"
        )


FAR = 1.5
"""Depths beyond FAR · 6ξ_c count as far outside the trainable region in :class:`Agreement`."""


def check_threshold(threshold) -> float:
    """``threshold`` as a float in (0, 1] (a train accuracy)."""
    ok = isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and 0.0 < threshold <= 1.0
    if not ok:
        raise InvalidParameterError(f"threshold must be a train accuracy in (0, 1], got {threshold!r}")
    return float(threshold)


def agreement(result: TrainabilityResult, threshold: float = DEFAULT_THRESHOLD) -> Agreement:
    """Compare trained cells (mean train accuracy ≥ ``threshold``) with the region L ≤ 6ξ_c."""
    threshold = check_threshold(threshold)
    trains = result.accuracy >= threshold
    ratio = result.depths[:, None] / result.six_xi_c[None, :]
    inside, far = ratio <= 1.0, ratio > FAR

    def fraction(mask) -> float:
        return float(trains[mask].mean()) if mask.any() else math.nan

    deepest = np.array([result.depths[t].max() if t.any() else np.nan for t in trains.T], dtype=np.float64)
    bounded = trains.any(axis=0) & ~trains.all(axis=0) & np.isfinite(result.six_xi_c)
    return Agreement(
        threshold=threshold,
        inside_cells=int(inside.sum()),
        inside_trained=fraction(inside),
        outside_cells=int((~inside).sum()),
        outside_trained=fraction(~inside),
        far_cells=int(far.sum()),
        far_trained=fraction(far),
        agreement=float(np.mean(trains == inside)),
        boundary_ratio=float(np.median(deepest[bounded] / result.six_xi_c[bounded])) if bounded.any() else math.nan,
        deepest_trained=deepest,
        six_xi_c=result.six_xi_c,
    )


def _edges(v: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (midpoints; the outer cells mirrored)."""
    v = np.asarray(v, dtype=np.float64)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def trainability_figure(result: TrainabilityResult):
    """Heatmap of train accuracy (depth against σ_w²) with 6ξ_c and the critical σ_w² overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result.spec
    order_d, order_w = np.argsort(result.depths), np.argsort(result.sigma_w2)
    d, w = result.depths[order_d], result.sigma_w2[order_w]
    acc = result.accuracy[np.ix_(order_d, order_w)]
    fig, ax = plt.subplots(figsize=(6.0, 4.2), layout="constrained")
    mesh = ax.pcolormesh(_edges(w), _edges(d), acc, cmap="magma", vmin=0.0, vmax=1.0, shading="flat")
    fig.colorbar(mesh, ax=ax, label="train accuracy")
    ylim = _edges(d)[[0, -1]]
    curve = np.where(np.isfinite(result.theory_six_xi_c), result.theory_six_xi_c, 10 * ylim[1])
    ax.plot(result.theory_sigma_w2, curve, color="white", ls="--", lw=1.8, label="6ξ_c")
    ax.axvline(result.critical_sigma_w2, color="#4dd0e1", ls=":", lw=1.5,
               label=f"critical σ_w² = {result.critical_sigma_w2:.3f}")
    ax.set(xlim=_edges(w)[[0, -1]], ylim=ylim, xlabel="σ_w²", ylabel="depth L (hidden layers)")
    ax.set_title(f"tanh, width {s.width}, σ_b² = {s.sigma_b2:g}, digits: {s.steps} SGD steps "
                 f"(η = {s.lr:g}, B = {s.batch})", fontsize=9)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.7)
    return fig


def write_csv(path: str | os.PathLike, columns: dict[str, np.ndarray]) -> None:
    """Columns of equal length as CSV with a header (floats with repr precision, nan and inf as such)."""
    names = list(columns)
    data = [np.ravel(np.asarray(columns[n], dtype=np.float64)) for n in names]
    lines = [",".join(names)] + [",".join(repr(float(v)) for v in row) for row in zip(*data, strict=True)]
    Path(path).write_text("\n".join(lines) + "\n")


def write_outputs(result: TrainabilityResult, out_dir: str | os.PathLike, stem: str = "trainability") -> dict:
    """Write ``stem.png`` (the figure), ``stem.npz`` (all arrays) and ``stem.csv`` (one row per
    cell: depth, sigma_w2, train_accuracy, loss, six_xi_c) into ``out_dir``; return their paths."""
    import matplotlib.pyplot as plt

    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    paths = {ext: root / f"{stem}.{ext}" for ext in ("png", "npz", "csv")}
    fig = trainability_figure(result)
    fig.savefig(paths["png"], dpi=110)
    plt.close(fig)
    np.savez(paths["npz"], **result.arrays())
    write_csv(paths["csv"], result.rows())
    return paths
