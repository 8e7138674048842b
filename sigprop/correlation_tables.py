"""Tabulated correlation maps for kinked φ: c* and χ_c on whole phase-diagram grids, cheaply.

Used only by :func:`sigprop.phase_diagram` for kinked φ (ReLU, leaky ReLU, hard tanh, ELU, SELU,
custom expressions with kinks); :func:`sigprop.point` and smooth φ keep the exact path. The exact
path evaluates the split polar rule (~10⁵ nodes) at every Newton step of every cell, which is
what made kinked grids slow. Here the rule is evaluated once per φ and q range on a tensor grid,

    r(q, θ) = ½E[(φ(u₁) − φ(u₂))²]/(q(1 − c)),   D(q, θ) = E[φ'(u₁)φ'(u₂)],   c = cos θ,

with u₁, u₂ as in :mod:`sigprop.correlation_map`, at Chebyshev nodes in (log q) × (θ ∈ [0, π/2])
(c* ∈ [0, 1], so θ ≤ π/2). For piecewise-smooth φ both are smooth in θ on [0, π/2], including
at θ = 0 (c = 1), where they are not smooth in c — e.g. ReLU's arc-cosine kernel — and smooth in
log q. Per cell, the θ-coefficients at q* come from one matrix product, and c* is the root of

* ρ = 1 (chaotic):  σ_w² r(q*, θ) = 1, i.e. S(c) = (1 − C(c))/(1 − c) = 1 (Schoenholz et al. 2017),
  which divides out the trivial root c = 1 as the exact path does;
* ρ < 1:  C(c) − c = (σ_w² (F(q*) − (1 − c) q* r(q*, θ)) + σ_b²)/q* − c = 0, with F = E[φ²] exact;

by bracketed Newton on the Chebyshev interpolant; then χ_c = σ_w² D(q*, θ*). q*, χ₁ and ξ_q are
not tabulated (exact 1-D rule). Positively homogeneous φ (ReLU, leaky ReLU) need only θ:
r(q, θ) = r(1, θ), D(q, θ) = D(1, θ). q* = 0 cells (σ_b² = 0, ordered, with dropout) use a θ-table at
q = :data:`~sigprop.correlation_map.Q_FLOOR`, the σ_b² → 0 limit, as the exact path does.

Tables are cached per (φ, quadrature, log-q range snapped outwards to multiples of
:data:`LOG_Q_STEP`), so a new σ range whose q* range stays in the same bucket reuses them; shapes
are static, so nothing recompiles. Accuracy (tests/test_phase_diagram_kinked.py, against
:func:`sigprop.point` on σ_w² ∈ [0.5, 4], σ_b² ∈ [0, 0.5], ρ ∈ {1, 0.9}): c*, χ_c agree to ≤ 1e-8
absolute (hard tanh, ELU, SELU ≤ 5e-10; ReLU, leaky ReLU to rounding), q*, χ₁ to rounding; on a
200 × 200 hard-tanh grid with ρ = 0.9 (q* from 3e-3 to 3.8) ≤ 4e-8. Accuracy falls off for very
wide q* ranges and very large q* (hard tanh's kinks at ±1 give θ-structure on the scale 1/√q*;
ELU at q* ~ 10⁴ needs more θ-nodes); the tables' own trailing coefficients are kept as an error
estimate (:attr:`Table.tail`).
"""

from __future__ import annotations

import functools
import math
import threading
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from sigprop import quadrature as qd
from sigprop._config import devices
from sigprop.correlation_map import Q_FLOOR, effective_bias
from sigprop.expectations import secant_slope_polar
from sigprop.length_map import CRITICAL_TOL
from sigprop.nonlinearities import Nonlinearity

N_Q = 40
"""Chebyshev nodes in log q."""
N_THETA = 48
"""Chebyshev nodes in θ ∈ [0, π/2]."""
THETA_MAX = 0.5 * math.pi
LOG_Q_STEP = 1.0
"""Table ranges in log q are snapped outwards to multiples of this (so that they are reused)."""
TABLE_CHUNK = 8
"""Table points per polar-rule evaluation (bounds the work arrays)."""
BRACKET_POINTS = 17
MAX_NEWTON = 60


class Table(NamedTuple):
    """2-D Chebyshev coefficients ``coeffs`` (N_Q, N_THETA, 2) of (r, D) over log q ∈ [s_lo, s_hi]
    and θ ∈ [0, π/2]; ``tail``: the largest |coefficient| in the last quarter (an error bound)."""

    coeffs: np.ndarray
    s_lo: float
    s_hi: float
    tail: float


def chebyshev_nodes(n: int) -> np.ndarray:
    """First-kind Chebyshev points x_j = cos(π(j + ½)/n) in (−1, 1)."""
    return np.cos(np.pi * (np.arange(n) + 0.5) / n)


@functools.lru_cache(maxsize=8)
def dct_matrix(n: int) -> np.ndarray:
    """Matrix A with a = A f: Chebyshev coefficients of the interpolant through f(x_j)."""
    k, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a = (2.0 / n) * np.cos(np.pi * k * (j + 0.5) / n)
    a[0] *= 0.5
    return a


def theta_nodes() -> np.ndarray:
    return 0.5 * THETA_MAX * (chebyshev_nodes(N_THETA) + 1.0)


@functools.lru_cache(maxsize=32)
def _compiled_values(phi: Nonlinearity, quad: qd.Quadrature, n_devices: int):
    """jit of (q, c) arrays (rows, TABLE_CHUNK) ↦ (r, D), rows mapped, split over devices."""

    def rows(q, c):
        def one(qc):
            gap, kc = secant_slope_polar(phi, quad, qc[0], qc[1])
            return gap / qc[0], kc

        return jax.lax.map(one, (q, c))

    if n_devices == 1:
        return jax.jit(rows)
    mesh = Mesh(np.array(devices()[:n_devices]), ("rows",))
    spec = PartitionSpec("rows")
    return jax.jit(jax.shard_map(rows, mesh=mesh, in_specs=(spec, spec), out_specs=(spec, spec)))


def polar_values(phi: Nonlinearity, quad: qd.Quadrature, q: np.ndarray, theta: np.ndarray):
    """r(q, θ) and D(q, θ) on the tensor grid q × θ (arrays (len(q), len(θ))), exact polar rule."""
    qq, tt = np.meshgrid(q, theta, indexing="ij")
    flat_q, flat_c = qq.ravel(), np.cos(tt.ravel())
    n = flat_q.size
    n_dev = max(1, min(len(devices()), -(-n // TABLE_CHUNK)))
    per = TABLE_CHUNK * n_dev
    pad = -n % per
    flat_q = np.concatenate([flat_q, np.full(pad, flat_q[-1])]).reshape(-1, TABLE_CHUNK)
    flat_c = np.concatenate([flat_c, np.full(pad, flat_c[-1])]).reshape(-1, TABLE_CHUNK)
    r, d = _compiled_values(phi, quad, n_dev)(jnp.asarray(flat_q), jnp.asarray(flat_c))
    r, d = (np.asarray(v).ravel()[:n].reshape(qq.shape) for v in (r, d))
    return r, d


def _make_table(values: np.ndarray, s_lo: float, s_hi: float) -> Table:
    """Values (n_q, N_THETA, 2) at Chebyshev nodes → coefficients, padded to N_Q rows."""
    n_q = values.shape[0]
    coeffs = np.einsum("jq,qkf->jkf", dct_matrix(n_q), values)
    coeffs = np.einsum("lk,jkf->jlf", dct_matrix(N_THETA), coeffs)
    tail = np.max(np.abs(coeffs[:, 3 * N_THETA // 4 :]))
    if n_q > 1:
        tail = max(tail, np.max(np.abs(coeffs[3 * n_q // 4 :])))
    full = np.zeros((N_Q, N_THETA, 2))
    full[:n_q] = coeffs
    return Table(full, s_lo, s_hi, float(tail))


@functools.lru_cache(maxsize=64)
def angle_table(phi: Nonlinearity, quad: qd.Quadrature, q: float) -> Table:
    """A θ-only table at one variance q (homogeneous φ, or the q* = 0 limit at q = Q_FLOOR)."""
    r, d = polar_values(phi, quad, np.array([q]), theta_nodes())
    return _make_table(np.stack([r, d], axis=-1), 0.0, 1.0)


@functools.lru_cache(maxsize=64)
def _range_table(phi: Nonlinearity, quad: qd.Quadrature, i_lo: int, i_hi: int) -> Table:
    s_lo, s_hi = i_lo * LOG_Q_STEP, i_hi * LOG_Q_STEP
    s = s_lo + 0.5 * (s_hi - s_lo) * (chebyshev_nodes(N_Q) + 1.0)
    r, d = polar_values(phi, quad, np.exp(s), theta_nodes())
    return _make_table(np.stack([r, d], axis=-1), s_lo, s_hi)


def q_table(phi: Nonlinearity, quad: qd.Quadrature, q_min: float, q_max: float) -> Table:
    """The (cached) table whose snapped log-q range covers [q_min, q_max] (both > 0)."""
    if phi.homogeneous:
        return angle_table(phi, quad, 1.0)
    i_lo = math.floor(math.log(q_min) / LOG_Q_STEP)
    i_hi = max(math.ceil(math.log(q_max) / LOG_Q_STEP), i_lo + 1)
    return _range_table(phi, quad, i_lo, i_hi)


def _clenshaw(a: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Σ_k a_k T_k(x) and its x-derivative for coefficients a (n, N) and x (N,)."""
    n = a.shape[0]

    def body(i, acc):
        b1, b2, d1, d2 = acc
        k = n - 1 - i
        return a[k] + 2.0 * x * b1 - b2, b1, 2.0 * b1 + 2.0 * x * d1 - d2, d1

    zero = jnp.zeros_like(x)
    b1, b2, d1, d2 = jax.lax.fori_loop(0, n - 1, body, (zero, zero, zero, zero), unroll=8)
    return a[0] + x * b1 - b2, b1 + x * d1 - d2


def _to_x(theta):
    return 2.0 * theta / THETA_MAX - 1.0


def solve_tabulated(coeffs, s_lo, s_hi, zero_coeffs, sigma_w2, sigma_b2, rho, q_star, chi_1, F):
    """(c*, χ_c) for N cells from the tables (see the module docstring); shapes as in
    :func:`sigprop.correlation_map.solve_c_star`. ``coeffs`` (N_Q, N_THETA, 2) over [s_lo, s_hi],
    ``zero_coeffs`` (N_THETA, 2) at q = Q_FLOOR (used where q* = 0). Pure; jit it."""
    ordered = (rho == 1.0) & (chi_1 <= 1.0 + CRITICAL_TOL)
    skip = ordered | ~jnp.isfinite(chi_1) | ~jnp.isfinite(q_star)

    def solve(_):
        return _solve(coeffs, s_lo, s_hi, zero_coeffs, sigma_w2, sigma_b2, rho, q_star, chi_1, F, skip)

    def none(_):
        return jnp.where(ordered, 1.0, jnp.nan), jnp.where(ordered, chi_1, jnp.nan)

    return jax.lax.cond(jnp.all(skip), none, solve, None)


def _solve(coeffs, s_lo, s_hi, zero_coeffs, sigma_w2, sigma_b2, rho, q_star, chi_1, F, ordered):
    q = jnp.maximum(q_star, Q_FLOOR)
    b_eff = effective_bias(sigma_w2, sigma_b2, rho, q_star, F)
    # θ-coefficients at q*: T_j(x_q) @ coeffs
    x_q = jnp.clip(2.0 * (jnp.log(q) - s_lo) / (s_hi - s_lo) - 1.0, -1.0, 1.0)
    t_q = [jnp.ones_like(x_q), x_q]
    for _ in range(N_Q - 2):
        t_q.append(2.0 * x_q * t_q[-1] - t_q[-2])
    t_q = jnp.stack(t_q)  # (N_Q, N)
    a = (jnp.transpose(coeffs, (2, 1, 0)).reshape(2 * N_THETA, N_Q) @ t_q).reshape(2, N_THETA, -1)
    a = jnp.where((q_star >= Q_FLOOR)[None, None, :], a, zero_coeffs.T[:, :, None])
    a_r, a_d = a[0], a[1]  # (N_THETA, N)

    with_dropout = rho < 1.0
    f_over_q = F / q

    def g(theta, r, dr_dtheta):
        """Increasing in θ through its root: 1 − σ_w² r (ρ = 1) or C(c) − c (ρ < 1)."""
        c, s = jnp.cos(theta), jnp.sin(theta)
        one_minus_c = 2.0 * jnp.sin(0.5 * theta) ** 2
        plain = 1.0 - sigma_w2 * r
        dplain = -sigma_w2 * dr_dtheta
        drop = sigma_w2 * f_over_q + b_eff / q - c - sigma_w2 * one_minus_c * r
        ddrop = s - sigma_w2 * (s * r + one_minus_c * dr_dtheta)
        return jnp.where(with_dropout, drop, plain), jnp.where(with_dropout, ddrop, dplain)

    def g_at(theta):
        r, dr = _clenshaw(a_r, _to_x(theta))
        return g(theta, r, dr * (2.0 / THETA_MAX))

    # bracket on a coarse θ grid (one matrix product), then bracketed Newton
    grid = np.linspace(0.0, THETA_MAX, BRACKET_POINTS)
    t_grid = jnp.asarray(np.cos(np.arange(N_THETA)[None, :] * np.arccos(np.clip(_to_x(grid), -1, 1))[:, None]))
    r_grid = t_grid @ a_r  # (points, N)
    g_grid = g(jnp.asarray(grid)[:, None], r_grid, jnp.zeros_like(r_grid))[0]
    positive = g_grid >= 0.0
    first = jnp.where(jnp.any(positive, axis=0), jnp.argmax(positive, axis=0), BRACKET_POINTS - 1)
    grid_j = jnp.asarray(grid)
    hi = grid_j[first]
    lo = grid_j[jnp.maximum(first - 1, 0)]
    at_zero = first == 0  # g(0) ≥ 0: c* = 1 (critical up to rounding)
    done = ordered | at_zero

    def step(state):
        theta, lo, hi, conv, it = state
        val, slope = g_at(theta)
        lo = jnp.where(val < 0.0, theta, lo)
        hi = jnp.where(val < 0.0, hi, theta)
        newton = theta - val / jnp.where(slope > 0.0, slope, 1.0)
        ok = (slope > 0.0) & (newton > lo) & (newton < hi)
        new = jnp.where(ok, newton, 0.5 * (lo + hi))
        c_conv = (jnp.abs(new - theta) <= 1e-15 * jnp.maximum(theta, 1e-3)) | (hi - lo <= 1e-16)
        new = jnp.where(conv, theta, new)
        return new, lo, hi, conv | c_conv, it + 1

    def cond(state):
        return jnp.any(~state[3]) & (state[4] < MAX_NEWTON)

    theta0 = 0.5 * (lo + hi)
    theta = jax.lax.while_loop(cond, step, (jnp.where(done, 0.0, theta0), lo, hi, done, 0))[0]
    theta = jnp.where(done, 0.0, theta)
    d_val = _clenshaw(a_d, _to_x(theta))[0]
    c_star = jnp.where(done, 1.0, jnp.cos(theta))
    chi_c = jnp.where(ordered, chi_1, jnp.where(at_zero, sigma_w2 * d_val, sigma_w2 * d_val))
    return c_star, chi_c


# ---- panels over the whole half-circle θ ∈ [0, π], for the kernels and correlation-map views ----
#
# :func:`sigprop.kernels.circle_kernels` and :func:`sigprop.maps.correlation_map` need r and D at
# any c ∈ [−1, 1] (θ ∈ [0, π]) and at variances that may span hundreds of e-folds (a deep ordered
# network with σ_b² = 0 has q^l → 0 geometrically; a chaotic ELU one has q^l → ∞). So q is cut
# into fixed panels, each tabulated on its own the first time a call needs it and then cached:
#
# * panel 0: √q ∈ [0, e^{S_MIN/2}] (variable √q: for a kink at 0, r and D are series in √q;
#   kinks away from 0 contribute e^{−1/q}-flat terms);
# * panels 1 … S_MAX − S_MIN: log q ∈ [S_MIN + k − 1, S_MIN + k], one e-fold each;
# * the last panel: 1/√q ∈ [0, e^{−S_MAX/2}].
#
# Every panel is PANEL_Q × PANEL_THETA Chebyshev nodes. A panel whose trailing coefficients
# exceed PANEL_TAIL_TOL (relative to the panel's values) is marked invalid, and callers use the
# exact polar rule wherever q falls into an invalid (or not yet built) panel: e.g. hard tanh at
# q ≳ 50, whose θ-structure (scale 1/√q) the panel does not resolve. The layout is fixed, so the
# stacked panels always have the same shape and nothing recompiles when σ's move.

PANEL_Q = 16
"""Chebyshev nodes per panel in its q variable."""
PANEL_THETA = 96
"""Chebyshev nodes per panel in θ ∈ [0, π]."""
PANEL_S_MIN = -10
PANEL_S_MAX = 10
N_PANELS = PANEL_S_MAX - PANEL_S_MIN + 2
PANEL_TAIL_TOL = 1e-8
"""A panel is used only if its largest trailing coefficient is ≤ this times its largest value."""
_T_LO = math.exp(0.5 * PANEL_S_MIN)
_U_HI = math.exp(-0.5 * PANEL_S_MAX)


class Panels(NamedTuple):
    """Stacked panels: ``coeffs`` (N_PANELS, PANEL_Q, PANEL_THETA, 2) Chebyshev coefficients of
    (r, D) in (panel variable, θ ∈ [0, π]); ``valid`` (N_PANELS,) where they may be used."""

    coeffs: jax.Array
    valid: jax.Array


def panel_q_nodes(i: int) -> np.ndarray:
    """The variances at the Chebyshev nodes of panel i (see the layout above)."""
    x = chebyshev_nodes(PANEL_Q)
    if i == 0:
        return (0.5 * _T_LO * (x + 1.0)) ** 2
    if i == N_PANELS - 1:
        return (0.5 * _U_HI * (x + 1.0)) ** -2.0
    return np.exp(PANEL_S_MIN + i - 1 + 0.5 * (x + 1.0))


def panel_theta_nodes() -> np.ndarray:
    return 0.5 * math.pi * (chebyshev_nodes(PANEL_THETA) + 1.0)


def _panel_from_values(values: np.ndarray) -> tuple[np.ndarray, bool, float]:
    """Values (n_q, PANEL_THETA, 2) → (coefficients padded to PANEL_Q rows, valid, relative tail)."""
    n_q = values.shape[0]
    coeffs = np.einsum("jq,qkf->jkf", dct_matrix(n_q), values)
    coeffs = np.einsum("lk,jkf->jlf", dct_matrix(PANEL_THETA), coeffs)
    scale = np.maximum(np.max(np.abs(values), axis=(0, 1)), 1e-300)
    tail = np.max(np.abs(coeffs[:, 3 * PANEL_THETA // 4 :]), axis=(0, 1)) / scale
    if n_q > 1:
        tail = np.maximum(tail, np.max(np.abs(coeffs[3 * n_q // 4 :]), axis=(0, 1)) / scale)
    full = np.zeros((PANEL_Q, PANEL_THETA, 2))
    full[:n_q] = coeffs
    tail = float(np.max(tail))
    ok = bool(np.all(np.isfinite(coeffs))) and tail <= PANEL_TAIL_TOL
    return full, ok, tail


@functools.lru_cache(maxsize=256)
def panel(phi: Nonlinearity, quad: qd.Quadrature, i: int) -> tuple[np.ndarray, bool, float]:
    """Panel i of φ (cached): (coefficients (PANEL_Q, PANEL_THETA, 2), valid, relative tail).

    Positively homogeneous φ (ReLU, leaky ReLU) have r, D independent of q: every panel is the
    one θ-table at q = 1 (:func:`_angle_panel`)."""
    if phi.homogeneous:
        return _angle_panel(phi, quad)
    r, d = polar_values(phi, quad, panel_q_nodes(i), panel_theta_nodes())
    return _panel_from_values(np.stack([r, d], axis=-1))


@functools.lru_cache(maxsize=32)
def _angle_panel(phi: Nonlinearity, quad: qd.Quadrature) -> tuple[np.ndarray, bool, float]:
    r, d = polar_values(phi, quad, np.array([1.0]), panel_theta_nodes())
    return _panel_from_values(np.stack([r, d], axis=-1))


def panel_index(q: np.ndarray) -> np.ndarray:
    """Host-side panel indices of variances q (the same rule as :func:`_locate`)."""
    s = np.log(np.maximum(np.asarray(q, dtype=np.float64), 1e-300))
    idx = np.where(s < PANEL_S_MIN, 0, np.where(s >= PANEL_S_MAX, N_PANELS - 1, 1 + np.floor(s) - PANEL_S_MIN))
    return idx.astype(int)


@functools.lru_cache(maxsize=64)
def _stack(phi: Nonlinearity, quad: qd.Quadrature, built: frozenset) -> Panels:
    coeffs = np.zeros((N_PANELS, PANEL_Q, PANEL_THETA, 2))
    valid = np.zeros(N_PANELS, dtype=bool)
    for i in built:
        coeffs[i], valid[i], _ = panel(phi, quad, i)
    return Panels(jnp.asarray(coeffs), jnp.asarray(valid))


_BUILT: dict[tuple, set] = {}
_BUILT_LOCK = threading.Lock()


def panels(phi: Nonlinearity, quad: qd.Quadrature, q) -> Panels:
    """The stacked panels of φ with (at least) those covering the variances ``q`` built.

    Panels are built once per (φ, quadrature) and kept; a variance whose panel is invalid is
    evaluated by the exact rule by the caller. Non-finite q are ignored (the caller's exact path
    reports the overflow). Panels near a boundary are built on both sides, so that rounding in
    the jitted :func:`_locate` never meets an unbuilt one."""
    q = np.asarray(q, dtype=np.float64).ravel()
    q = q[np.isfinite(q)]
    if phi.homogeneous:
        need = set(range(N_PANELS))
    else:
        need = {int(i) for i in panel_index(q * (1 + 1e-12))} | {int(i) for i in panel_index(q * (1 - 1e-12))}
    with _BUILT_LOCK:
        built = _BUILT.setdefault((phi, quad), set())
        built |= need
        key = frozenset(built)
    return _stack(phi, quad, key)


def _locate(q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(panel index, Chebyshev variable x ∈ [−1, 1]) of a scalar variance q (jittable)."""
    q = jnp.maximum(q, 1e-300)
    s = jnp.log(q)
    lo, hi = s < PANEL_S_MIN, s >= PANEL_S_MAX
    fl = jnp.floor(s)
    idx = jnp.where(lo, 0, jnp.where(hi, N_PANELS - 1, 1 + fl - PANEL_S_MIN))
    sq = jnp.sqrt(q)
    x = jnp.where(lo, 2.0 * sq / _T_LO - 1.0, jnp.where(hi, 2.0 / (sq * _U_HI) - 1.0, 2.0 * (s - fl) - 1.0))
    idx = jnp.where(jnp.isfinite(s), idx, 0)
    return jnp.clip(idx, 0, N_PANELS - 1).astype(jnp.int32), jnp.clip(x, -1.0, 1.0)


def panel_ok(p: Panels, q: jax.Array) -> jax.Array:
    """Whether the (scalar) variance q may use the panels (finite, panel built and valid)."""
    return p.valid[_locate(q)[0]] & jnp.isfinite(q)


def panel_values(p: Panels, q: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """r(q, θ) and D(q, θ) at one scalar variance q and correlations c (N,), θ = arccos c."""
    idx, x = _locate(q)
    t_x = jnp.cos(jnp.arange(PANEL_Q) * jnp.arccos(x))  # T_j(x)
    a = jnp.einsum("j,jkf->kf", t_x, p.coeffs[idx])  # (PANEL_THETA, 2)
    theta = jnp.arccos(jnp.clip(c, -1.0, 1.0))
    x_t = jnp.clip(2.0 * theta / math.pi - 1.0, -1.0, 1.0)
    t_t = jnp.cos(jnp.arccos(x_t)[:, None] * jnp.arange(PANEL_THETA)[None, :])  # (N, PANEL_THETA)
    v = t_t @ a
    return v[:, 0], v[:, 1]
