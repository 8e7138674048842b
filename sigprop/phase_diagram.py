"""Order/chaos phase diagrams: grids of q*, c*, χ₁, χ_c, ξ_q and ξ_c over (σ_w², σ_b²).

Poole et al. 2016 (Fig. 3) and Schoenholz et al. 2017 (Figs. 1, 5). Every grid point goes through
:func:`sigprop.point.point_kernel`, vectorised with ``vmap`` and compiled once per
(φ, quadrature, grid size): no Python loop over grid points, and a new σ range of the same size
reuses the compiled code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from sigprop import quadrature as qd
from sigprop.errors import InvalidParameterError
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.point import point_kernel

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
"""Points per chunk × quadrature nodes per point: keeps each chunk's work arrays in cache."""


def chunk_size(phi: Nonlinearity, quad: qd.Quadrature) -> int:
    """Grid points evaluated together (a power of two between 16 and 4096)."""
    nodes = quad.hermite_degree if phi.is_smooth else 40 * quad.panel_nodes * quad.angular_nodes
    size = 2 ** int(np.log2(max(CHUNK_ELEMENTS // nodes, 16)))
    return int(min(size, 4096))


@functools.lru_cache(maxsize=32)
def _compiled_grid(phi: Nonlinearity, quad: qd.Quadrature):
    """jit(lax.map over chunks of point_kernel): chunks run one after another, so a chunk whose
    points all converge early stops early, and memory stays bounded."""

    def run(w, b, rho):
        return jax.lax.map(lambda wb: point_kernel(phi, quad, wb[0], wb[1], rho), (w, b))

    return jax.jit(run)


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
    from sigprop.point import validate

    rho = validate(1.0, 0.0, dropout)[2]
    W, B = np.meshgrid(w, b)
    size = chunk_size(phi, quadrature)
    n = W.size
    pad = -n % size
    # pad with copies of the last point so every chunk has the same static shape
    flat_w = np.concatenate([W.ravel(), np.full(pad, W.ravel()[-1])]).reshape(-1, size)
    flat_b = np.concatenate([B.ravel(), np.full(pad, B.ravel()[-1])]).reshape(-1, size)
    out = _compiled_grid(phi, quadrature)(jnp.asarray(flat_w), jnp.asarray(flat_b), rho)
    grids = {k: np.asarray(v).ravel()[:n].reshape(W.shape) for k, v in out.items()}
    return PhaseDiagram(phi=phi.name, dropout=rho, sigma_w2=w, sigma_b2=b, **grids)
