"""Order/chaos phase diagrams: grids of q*, c*, χ₁, χ_c, ξ_q and ξ_c over (σ_w², σ_b²).

Poole et al. 2016 (Fig. 3) and Schoenholz et al. 2017 (Figs. 1, 5). Every grid point goes through
:func:`sigprop.point.point_kernel`, which is batched over points, and the grid is compiled once
per (φ, quadrature, grid size): no Python loop over grid points, and a new σ range of the same
size reuses the compiled code.

The grid is cut into square-ish tiles that run one after another (``lax.map``): a tile's Newton
loops stop when its own points converge, and a tile lying wholly in the ordered phase skips the
correlation-map solve. When JAX exposes several CPU devices (sigprop asks for one per core, see
:mod:`sigprop._config`), the tiles are dealt out to them with ``shard_map`` and run in parallel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from sigprop import quadrature as qd
from sigprop.errors import InvalidParameterError
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.point import point_kernel, validate

GRID_FIELDS = ("q_star", "c_star", "chi_1", "chi_c", "xi_q", "xi_c")


@dataclass(frozen=True)
class PhaseDiagram:
    """Grids indexed ``[i_b, i_w]`` (rows σ_b², columns σ_w², as in the papers' figures).

    Depth scales are ``inf`` exactly at criticality. Where the length map diverges (``status``
    1, e.g. ReLU with σ_w² > 2) or no stable q* exists (``status`` 3), q* is ``inf`` and the other
    grids are NaN; ``status`` says why. ``phase`` is 0 ordered, 1 critical, 2 chaotic, −1 none.
    """

    phi: str
    dropout: float
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q_star: np.ndarray
    c_star: np.ndarray
    chi_1: np.ndarray
    chi_c: np.ndarray
    xi_q: np.ndarray
    xi_c: np.ndarray
    slope_q: np.ndarray
    phase: np.ndarray
    status: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        """Axes and grids, e.g. for ``np.savez``."""
        names = ("sigma_w2", "sigma_b2", *GRID_FIELDS, "slope_q", "phase", "status")
        return {k: getattr(self, k) for k in names}


CHUNK_ELEMENTS = 2**18
"""Points per tile × quadrature nodes per point: keeps each tile's work arrays in cache."""


def chunk_size(phi: Nonlinearity, quad: qd.Quadrature) -> int:
    """Grid points per tile (a power of two between 16 and 4096)."""
    nodes = quad.hermite_degree if phi.is_smooth else 40 * quad.panel_nodes * quad.angular_nodes
    size = 2 ** int(np.log2(max(CHUNK_ELEMENTS // nodes, 16)))
    return int(min(size, 4096))


def _devices() -> list:
    return jax.devices("cpu") if jax.default_backend() == "cpu" else jax.devices()[:1]


@functools.lru_cache(maxsize=32)
def _compiled_grid(phi: Nonlinearity, quad: qd.Quadrature, n_devices: int = 1):
    """jit of ``lax.map`` over tiles (arrays (tiles, points)), split over ``n_devices``."""

    def run_tiles(w, b, rho):
        return jax.lax.map(lambda wb: point_kernel(phi, quad, wb[0], wb[1], rho), (w, b))

    if n_devices == 1:
        return jax.jit(run_tiles)
    mesh = Mesh(np.array(_devices()[:n_devices]), ("tiles",))
    spec = PartitionSpec("tiles")
    return jax.jit(jax.shard_map(run_tiles, mesh=mesh, in_specs=(spec, spec, PartitionSpec()), out_specs=spec))


def _tile_shape(size: int) -> tuple[int, int]:
    rows = 2 ** (int(np.log2(size)) // 2)
    return rows, size // rows


def _to_tiles(grid: np.ndarray, tb: int, tw: int, n_tiles: int) -> np.ndarray:
    """(n_b, n_w) grid → (n_tiles, tb·tw) tiles, padding with edge values."""
    nb, nw = grid.shape
    padded = np.pad(grid, ((0, -nb % tb), (0, -nw % tw)), mode="edge")
    tiles = padded.reshape(padded.shape[0] // tb, tb, padded.shape[1] // tw, tw).transpose(0, 2, 1, 3)
    tiles = tiles.reshape(-1, tb * tw)
    return np.concatenate([tiles, np.repeat(tiles[-1:], n_tiles - tiles.shape[0], axis=0)])


def _from_tiles(tiles: np.ndarray, shape: tuple[int, int], tb: int, tw: int) -> np.ndarray:
    nb, nw = shape
    rows, cols = -(-nb // tb), -(-nw // tw)
    grid = tiles[: rows * cols].reshape(rows, cols, tb, tw).transpose(0, 2, 1, 3)
    return grid.reshape(rows * tb, cols * tw)[:nb, :nw]


def _axis(values, name: str, positive: bool) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"{name} must be a non-empty 1-D array of finite numbers")
    if positive and np.any(arr <= 0):
        raise InvalidParameterError(f"{name} must be positive everywhere (got min {arr.min():g})")
    if not positive and np.any(arr < 0):
        raise InvalidParameterError(f"{name} must be non-negative everywhere (got min {arr.min():g})")
    return arr


def phase_diagram(
    phi: str | Nonlinearity,
    sigma_w2,
    sigma_b2,
    dropout: float = 1.0,
    *,
    quadrature: qd.Quadrature = qd.GRID,
) -> PhaseDiagram:
    """All six grids over the tensor product of the σ_w² and σ_b² axes, in one compiled call.

    Args:
      phi: registry name, custom expression, or :class:`Nonlinearity`.
      sigma_w2: 1-D array of σ_w² > 0 (columns).
      sigma_b2: 1-D array of σ_b² ≥ 0 (rows).
      dropout: keep-probability ρ ∈ (0, 1].
      quadrature: defaults to :data:`sigprop.quadrature.GRID` (128 Gauss–Hermite nodes).

    >>> d = phase_diagram("tanh", np.linspace(1, 4, 3), np.linspace(0, 0.2, 2))
    >>> d.chi_1.shape
    (2, 3)
    """
    phi = nonlinearity(phi)
    w = _axis(sigma_w2, "sigma_w2", positive=True)
    b = _axis(sigma_b2, "sigma_b2", positive=False)
    rho = validate(1.0, 0.0, dropout)[2]
    W, B = np.meshgrid(w, b)
    tb, tw = _tile_shape(chunk_size(phi, quadrature))
    n_tiles = -(-W.shape[0] // tb) * -(-W.shape[1] // tw)
    n_dev = max(1, min(len(_devices()), n_tiles))
    n_tiles += -n_tiles % n_dev
    # deal tiles out round-robin so that every device gets a share of the costly chaotic ones
    order = np.arange(n_tiles).reshape(-1, n_dev).T.ravel()
    tiles_w, tiles_b = (_to_tiles(g, tb, tw, n_tiles)[order] for g in (W, B))
    out = _compiled_grid(phi, quadrature, n_dev)(jnp.asarray(tiles_w), jnp.asarray(tiles_b), rho)
    inverse = np.argsort(order)
    grids = {k: _from_tiles(np.asarray(v)[inverse], W.shape, tb, tw) for k, v in out.items()}
    return PhaseDiagram(phi=phi.name, dropout=rho, sigma_w2=w, sigma_b2=b, **grids)
