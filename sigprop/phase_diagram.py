"""Order/chaos phase diagrams: grids of q*, c*, χ₁, χ_c, ξ_q and ξ_c over (σ_w², σ_b²).

Poole et al. 2016 (Fig. 3) and Schoenholz et al. 2017 (Figs. 1, 5). Every grid point goes through
:func:`sigprop.point.point_kernel`, which is batched over points, and the grid is compiled once
per (φ, quadrature, grid size): no Python loop over grid points, and a new σ range of the same
size reuses the compiled code.

The grid is cut into square-ish tiles that run one after another (``lax.map``): a tile's Newton
loops stop when its own points converge, and a tile lying wholly in the ordered phase skips the
correlation-map solve. When JAX exposes several CPU devices (sigprop asks for one per core, see
:mod:`sigprop._config`), the tiles are dealt out to them with ``shard_map`` and run in parallel.

Kinked φ take a different route for the correlation map: the tiled kernel solves only the length
map (q*, χ₁, ξ_q, exact split 1-D rule), and c*, χ_c come from tables of the bivariate
expectations in (log q, θ), built once per φ and q range with the exact polar rule
(:mod:`sigprop.correlation_tables`, which states their accuracy), in one vectorised call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from sigprop import correlation_tables as ct
from sigprop import quadrature as qd
from sigprop._config import devices
from sigprop.correlation_map import Q_FLOOR, solve_c_star
from sigprop.errors import InvalidParameterError
from sigprop.expectations import moments
from sigprop.length_map import (
    CRITICAL_TOL,
    MARGINAL,
    OK,
    UNRESOLVED,
    solve_q_star,
)
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.point import finish_point, point_kernel, validate
from sigprop.validation import quadrature_rule, real_array

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
KINKED_TILE_NODES = 64
"""For kinked φ the tiles only solve the length map; a small tile keeps slow Newton cells (near the
divergence of the length map) from holding up many others."""


def length_kernel(phi: Nonlinearity, quad: qd.Quadrature, sigma_w2, sigma_b2, rho) -> dict:
    """The 1-D part of :func:`sigprop.point.point_kernel`: q*, χ₁, V'(q*), status and F = E[φ²]
    at max(q*, Q_FLOOR), for arrays of N points (kinked φ; c*, χ_c come from
    :func:`sigprop.correlation_tables.solve_tabulated`)."""
    sigma_w2, sigma_b2 = jnp.broadcast_arrays(jnp.atleast_1d(sigma_w2), jnp.atleast_1d(sigma_b2))
    q_star, status = solve_q_star(phi, quad, sigma_w2, sigma_b2, rho)
    q_finite = jnp.where(jnp.isfinite(q_star), q_star, 1.0)
    m = moments(phi, quad, jnp.maximum(q_finite, Q_FLOOR))
    slope_q = jnp.where(status == MARGINAL, 1.0, sigma_w2 / rho * m.dF)
    status = jnp.where((status == OK) & (slope_q > 1.0 + 1e-9), UNRESOLVED, status)
    return {"q_star": q_star, "status": status, "chi_1": sigma_w2 * m.G, "slope_q": slope_q, "F": m.F}


def smooth_kernel(phi: Nonlinearity, quad: qd.Quadrature, sigma_w2, sigma_b2, rho) -> dict:
    """:func:`sigprop.point.point_kernel` for smooth φ on grid tiles, except that cells the Mehler
    series cannot solve (``unresolved``: large q* with c* near 1) are left to
    :func:`_refine_cells`, so that a tile never runs the costly exact 2-D rule on all its cells."""
    one_d = length_kernel(phi, quad, sigma_w2, sigma_b2, rho)
    q_finite = jnp.where(jnp.isfinite(one_d["q_star"]), one_d["q_star"], 1.0)
    sigma_w2, sigma_b2 = jnp.broadcast_arrays(jnp.atleast_1d(sigma_w2), jnp.atleast_1d(sigma_b2))
    c_star, chi_c, unresolved = solve_c_star(
        phi, quad, sigma_w2, sigma_b2, rho, q_finite, one_d["chi_1"], one_d["F"], refine=False
    )
    out = finish_point(one_d["q_star"], one_d["status"], one_d["chi_1"], one_d["slope_q"], c_star, chi_c)
    out["unresolved"] = unresolved & (out["status"] == OK)
    return out


REFINE_BATCH = 8
"""Cells per call of the exact correlation solve in :func:`_refine_cells`."""


@functools.lru_cache(maxsize=32)
def _compiled_cells(phi: Nonlinearity, quad: qd.Quadrature):
    """jit of ``point_kernel`` mapped over batches (arrays (batches, REFINE_BATCH))."""

    def run(w, b, rho):
        return jax.lax.map(lambda wb: point_kernel(phi, quad, wb[0], wb[1], rho), (w, b))

    return jax.jit(run)


def _refine_cells(phi: Nonlinearity, quad: qd.Quadrature, W, B, rho: float, grids: dict) -> dict:
    """Recompute the ``unresolved`` cells of a smooth-φ grid with the full point kernel (exact 2-D
    rule where needed), in batches; the number of batches is padded to a power of two so that
    few shapes are ever compiled."""
    unresolved = grids.pop("unresolved").astype(bool)
    cells = np.flatnonzero(unresolved)
    if cells.size == 0:
        return grids
    n_batches = 2 ** int(np.ceil(np.log2(-(-cells.size // REFINE_BATCH))))
    padded = np.resize(cells, n_batches * REFINE_BATCH)  # repeats cells: harmless duplicates
    shape = (n_batches, REFINE_BATCH)
    out = _compiled_cells(phi, quad)(
        jnp.asarray(W.ravel()[padded].reshape(shape)), jnp.asarray(B.ravel()[padded].reshape(shape)), rho
    )
    for key, grid in grids.items():
        flat = grid.ravel().copy()
        flat[padded] = np.asarray(out[key]).ravel()
        grids[key] = flat.reshape(grid.shape)
    return grids


def finish_kernel(sigma_w2, sigma_b2, rho, one_d: dict, coeffs, s_lo, s_hi, zero_coeffs) -> dict:
    """c*, χ_c from the tables, then the same depth scales, phases and masks as ``point_kernel``."""
    q_star, status, chi_1, slope_q = one_d["q_star"], one_d["status"], one_d["chi_1"], one_d["slope_q"]
    q_finite = jnp.where(jnp.isfinite(q_star), q_star, 1.0)
    c_star, chi_c = ct.solve_tabulated(
        coeffs, s_lo, s_hi, zero_coeffs, sigma_w2, sigma_b2, rho, q_finite, chi_1, one_d["F"]
    )
    return finish_point(q_star, status, chi_1, slope_q, c_star, chi_c)


FINISH_TILE = 512
"""Cells per tile of the tabulated correlation solve; tiles whose cells are all ordered skip it."""


@functools.lru_cache(maxsize=8)
def _compiled_finish(n_devices: int):
    """jit of ``finish_kernel`` mapped over tiles (arrays (tiles, FINISH_TILE)), split over devices."""

    def run_tiles(w, b, rho, one_d, coeffs, s_lo, s_hi, zero_coeffs):
        def tile(args):
            return finish_kernel(args[0], args[1], rho, args[2], coeffs, s_lo, s_hi, zero_coeffs)

        return jax.lax.map(tile, (w, b, one_d))

    if n_devices == 1:
        return jax.jit(run_tiles)
    mesh = Mesh(np.array(devices()[:n_devices]), ("tiles",))
    spec, rep = PartitionSpec("tiles"), PartitionSpec()
    return jax.jit(
        jax.shard_map(run_tiles, mesh=mesh, in_specs=(spec, spec, rep, spec, rep, rep, rep, rep), out_specs=spec)
    )


def chunk_size(phi: Nonlinearity, quad: qd.Quadrature) -> int:
    """Grid points per tile (a power of two between 16 and 4096)."""
    nodes = quad.hermite_degree if phi.is_smooth else KINKED_TILE_NODES * quad.panel_nodes
    size = 2 ** int(np.log2(max(CHUNK_ELEMENTS // nodes, 16)))
    return int(min(size, 4096))


@functools.lru_cache(maxsize=32)
def _compiled_grid(phi: Nonlinearity, quad: qd.Quadrature, n_devices: int = 1):
    """jit of ``lax.map`` over tiles (arrays (tiles, points)), split over ``n_devices``; each tile
    runs ``point_kernel`` (smooth φ) or ``length_kernel`` (kinked φ)."""
    kernel = smooth_kernel if phi.is_smooth else length_kernel

    def run_tiles(w, b, rho):
        return jax.lax.map(lambda wb: kernel(phi, quad, wb[0], wb[1], rho), (w, b))

    if n_devices == 1:
        return jax.jit(run_tiles)
    mesh = Mesh(np.array(devices()[:n_devices]), ("tiles",))
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
    arr = np.atleast_1d(real_array(values, name))
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
    refine: bool = True,
) -> PhaseDiagram:
    """All six grids over the tensor product of the σ_w² and σ_b² axes, in one compiled call.

    Args:
      phi: registry name, custom expression, or :class:`Nonlinearity`.
      sigma_w2: 1-D array of σ_w² > 0 (columns).
      sigma_b2: 1-D array of σ_b² ≥ 0 (rows).
      dropout: keep-probability ρ ∈ (0, 1].
      quadrature: defaults to :data:`sigprop.quadrature.GRID`, the rule of :func:`sigprop.point.point`.
      refine: for smooth φ, solve the cells where the Mehler series exceeds its error bound (large
        q* with c* near 1) again with the exact 2-D rule, so every cell equals ``point``. False
        keeps the series' c*, χ_c there: a picture's accuracy (q*, χ₁ stay exact) at a fraction
        of the cost, which is what an interactive view needs (a custom ``tanh(x) + 0.1*x``
        diagram takes minutes refined on 2 cores).

    >>> d = phase_diagram("tanh", np.linspace(1, 4, 3), np.linspace(0, 0.2, 2))
    >>> d.chi_1.shape
    (2, 3)
    """
    phi = nonlinearity(phi)
    quadrature = quadrature_rule(quadrature)
    w = _axis(sigma_w2, "sigma_w2", positive=True)
    b = _axis(sigma_b2, "sigma_b2", positive=False)
    rho = validate(1.0, 0.0, dropout)[2]
    W, B = np.meshgrid(w, b)
    tb, tw = _tile_shape(chunk_size(phi, quadrature))
    n_tiles = -(-W.shape[0] // tb) * -(-W.shape[1] // tw)
    n_dev = max(1, min(len(devices()), n_tiles))
    n_tiles += -n_tiles % n_dev
    # deal tiles out round-robin so that every device gets a share of the costly chaotic ones
    order = np.arange(n_tiles).reshape(-1, n_dev).T.ravel()
    tiles_w, tiles_b = (_to_tiles(g, tb, tw, n_tiles)[order] for g in (W, B))
    out = _compiled_grid(phi, quadrature, n_dev)(jnp.asarray(tiles_w), jnp.asarray(tiles_b), rho)
    inverse = np.argsort(order)
    grids = {k: _from_tiles(np.asarray(v)[inverse], W.shape, tb, tw) for k, v in out.items()}
    if phi.is_smooth and refine:
        grids = _refine_cells(phi, quadrature, W, B, rho, grids)
    elif phi.is_smooth:
        grids.pop("unresolved")
    else:
        grids = _kinked_correlations(phi, quadrature, W, B, rho, grids)
    return PhaseDiagram(phi=phi.name, dropout=rho, sigma_w2=w, sigma_b2=b, **grids)


def _kinked_correlations(phi: Nonlinearity, quad: qd.Quadrature, W, B, rho: float, grids: dict) -> dict:
    """Finish a kinked-φ grid from its 1-D part: tables over the q* range that needs them, then
    c*, χ_c and the rest for all cells in one compiled call."""
    q, status, chi_1 = grids["q_star"], grids["status"], grids["chi_1"]
    need = np.isin(status, (OK, MARGINAL)) & np.isfinite(q) & ~((rho == 1.0) & (chi_1 <= 1.0 + CRITICAL_TOL))
    positive = need & (q >= Q_FLOOR)
    if positive.any():
        table = ct.q_table(phi, quad, float(q[positive].min()), float(q[positive].max()))
    else:
        table = ct.angle_table(phi, quad, 1.0)
    zero = ct.angle_table(phi, quad, Q_FLOOR) if (need & ~positive).any() else table
    n = W.size
    n_dev = max(1, min(len(devices()), -(-n // FINISH_TILE)))
    pad = -n % (FINISH_TILE * n_dev)

    def tiles(v):
        flat = np.ravel(v)
        return jnp.asarray(np.concatenate([flat, np.repeat(flat[-1:], pad)]).reshape(-1, FINISH_TILE))

    out = _compiled_finish(n_dev)(
        tiles(W),
        tiles(B),
        rho,
        {k: tiles(v) for k, v in grids.items()},
        jnp.asarray(table.coeffs),
        table.s_lo,
        table.s_hi,
        jnp.asarray(zero.coeffs[0]),
    )
    return {k: np.asarray(v).ravel()[:n].reshape(W.shape) for k, v in out.items()}
