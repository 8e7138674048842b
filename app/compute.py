"""What the dashboard shows, as plain numbers: one pure function per view, no UI imports.

Every function takes a :class:`Settings` (the dashboard's whole state) and returns numpy arrays
and floats from :mod:`sigprop`. Shapes are static so that nothing retraces when σ_w² or σ_b²
moves: trajectories are computed at a fixed depth bucket and sliced, the maps on fixed grids.
Results that do not depend on the σ sliders (phase diagrams, critical lines) are cached per
process, so every session on a shared server reuses them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, replace

import numpy as np

import sigprop as sp
from sigprop import correlation_tables
from sigprop import quadrature as qd
from sigprop.errors import SigpropError
from sigprop.nonlinearities import NAMES
from sigprop.point import validate

# ---- limits (a shared classroom server must stay responsive) ----------------------------------
MAX_DEPTH = 200
"""Deepest network the dashboard draws (theory and simulation)."""
MAX_WIDTH = 4096
"""Widest simulated network: the exact Gram engine costs O(width · depth · seeds)."""
MAX_SEEDS = 64
MAX_SIM_WORK = 2**25
"""width × depth × seeds above which the simulation waits for the Run button (~0.5 s)."""
AUTO_SIM_WORK = 2**21
"""width × depth × seeds below which the simulation reruns by itself on every change."""
MIN_BATCH, MAX_BATCH = 4, 128
"""Batch sizes the batch-norm view offers (λ needs B ≥ 4; the curve λ(B) is drawn over this range)."""
BN_SIM_WIDTH, BN_SIM_SEEDS = 512, 8
"""Largest width and seed count of the batch-norm simulation (dense N × N weights: O(N² · depth · seeds))."""
DEPTH_BUCKETS = (16, 32, 64, 128, 256)
"""Theory trajectories are compiled at these depths only, then sliced (no recompiles)."""

GRID_SIZE = 200
SIGMA_W2_RANGE = (0.05, 5.0)
SIGMA_B2_RANGE = (0.0, 0.5)
N_CIRCLE = 256
N_SAMPLES = 5
MAP_POINTS = 201

QUANTITIES = {
    "chi_1": "χ₁ = σ_w² E[φ'(√q* z)²]",
    "xi_c": "ξ_c (correlation depth scale)",
    "trainable_depth": "trainable depth 6 ξ_c",
    "c_star": "c* (fixed-point correlation)",
    "q_star": "q* (fixed-point length)",
}

# Kinked φ integrate a bivariate normal with a split polar rule; a lighter rule keeps the
# dashboard's curves interactive (its accuracy, ~1e-7, is far below what a plot resolves).
VIEW_QUADRATURE = qd.Quadrature(hermite_degree=128, panel_nodes=8, angular_nodes=12)


@dataclass(frozen=True)
class Settings:
    """The dashboard state: everything the URL carries."""

    phi: str = "tanh"
    expression: str = ""
    sigma_w2: float = 1.76
    sigma_b2: float = 0.05
    dropout: float = 1.0
    depth: int = 50
    width: int = 512
    seeds: int = 8
    c0: float = 0.5
    q0: float = 1.0
    quantity: str = "chi_1"
    batchnorm: bool = False
    batch_size: int = 8

    @property
    def nonlinearity(self) -> str:
        """The φ that is computed: the custom expression when one is given."""
        return self.expression.strip() or self.phi

    def replace(self, **changes) -> Settings:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict] = {
    # Poole et al. quote standard deviations: their chaotic tanh network has σ_w = 4, σ_b = 0.3
    "Poole et al. 2016 chaotic tanh (σ_w = 4, σ_b = 0.3: σ_w² = 16, σ_b² = 0.09)": dict(
        phi="tanh", expression="", sigma_w2=16.0, sigma_b2=0.09, dropout=1.0),
    "ReLU at He initialisation (2, 0)": dict(phi="relu", expression="", sigma_w2=2.0, sigma_b2=0.0, dropout=1.0),
    "Critical tanh at σ_b² = 0.05": dict(phi="tanh", expression="", sigma_w2=1.7609546396, sigma_b2=0.05, dropout=1.0),
    "tanh with dropout ρ = 0.9": dict(phi="tanh", expression="", sigma_w2=2.0, sigma_b2=0.05, dropout=0.9),
    "Ordered tanh (σ_w²=1, σ_b²=0.3)": dict(phi="tanh", expression="", sigma_w2=1.0, sigma_b2=0.3, dropout=1.0),
    "Chaotic tanh (σ_w²=4, σ_b²=0.05)": dict(phi="tanh", expression="", sigma_w2=4.0, sigma_b2=0.05, dropout=1.0),
}


CAPS = {
    "depth": (1, MAX_DEPTH, "deeper plots stop being readable and cost everyone on the server time"),
    "width": (2, MAX_WIDTH, "wider simulated networks slow the shared server for everyone"),
    "seeds": (2, MAX_SEEDS, "more seeds slow the shared server for everyone"),
    "batch_size": (MIN_BATCH, MAX_BATCH,
                   "batch norm's gradient needs E[1/χ²_(B−1)] = 1/(B−3), finite only for B ≥ 4, "
                   f"and the λ(B) curve is drawn up to B = {MAX_BATCH}"),
}
"""Integer settings: (lowest, highest, why). The dashboard clamps to them with the reason."""


class InputError(SigpropError):
    """A dashboard input outside the caps; the message says which cap and why."""


def check_settings(s: Settings) -> Settings:
    """Raise :class:`InputError` (or a sigprop error) with a readable message for bad input."""
    if s.phi not in NAMES:
        raise InputError(f"unknown nonlinearity {s.phi!r}")
    sp.nonlinearity(s.nonlinearity)  # parses a custom expression safely (AST allow-list)
    validate(s.sigma_w2, s.sigma_b2, s.dropout)
    for name, (lo, hi, why) in CAPS.items():
        value = getattr(s, name)
        if not (isinstance(value, int | np.integer) and lo <= value <= hi):
            raise InputError(f"{name} must be an integer in [{lo}, {hi}]: {why}")
    if not (-1.0 <= s.c0 <= 1.0):
        raise InputError("c⁰ must lie in [−1, 1]")
    if not (0.0 < s.q0 <= 1e4):
        raise InputError("q⁰ must lie in (0, 10⁴]")
    return s


# ---- readout -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def critical_sigma_w2(phi: str, sigma_b2: float, dropout: float) -> tuple[float, str]:
    """σ_w² on the critical line at this σ_b² (with dropout: where ξ_c peaks), and a remark."""
    try:
        cp = sp.critical_point(phi, sigma_b2, dropout)
    except SigpropError as err:
        return math.nan, str(err)
    return cp.sigma_w2, ("χ₁ = 1" if dropout == 1.0 else "maximum of ξ_c (dropout has no χ₁ = 1 transition)")


def phase_words(r: sp.PointResult) -> str:
    """The phase in a sentence a student can read."""
    if r.phase == "critical":
        return "critical (χ₁ = 1): signals and gradients propagate through any depth"
    if r.phase == "ordered":
        return "ordered (χ₁ < 1): inputs become correlated, c → c*; gradients vanish"
    return "chaotic (χ₁ > 1): nearby inputs decorrelate; gradients explode"


def readout(s: Settings) -> dict:
    """q*, c*, χ₁, χ_c, ξ_q, ξ_c, the phase and the critical σ_w² for this σ_b²."""
    r = sp.point(s.nonlinearity, s.sigma_w2, s.sigma_b2, s.dropout)
    w_crit, how = critical_sigma_w2(s.nonlinearity, s.sigma_b2, s.dropout)
    return dict(r.to_dict(), phase_text=phase_words(r), critical_sigma_w2=w_crit, critical_how=how)


# ---- depth trajectories ------------------------------------------------------------------------


def depth_bucket(depth: int) -> int:
    return next(b for b in DEPTH_BUCKETS if b >= depth)


def trajectory(s: Settings) -> dict:
    """Mean-field q^l and c^l for l = 0 … depth, from q⁰ and c⁰ (two inputs of equal length)."""
    t = sp.trajectories(s.nonlinearity, s.sigma_w2, s.sigma_b2, depth_bucket(s.depth), q0=s.q0, c0=s.c0,
                        dropout=s.dropout, quadrature=VIEW_QUADRATURE)
    n = s.depth + 1
    return dict(layer=np.arange(n), q=t.q[:n], c=t.c[:n])


def simulation_work(s: Settings) -> int:
    return s.width * s.depth * s.seeds


def simulation(s: Settings, seed: int = 0) -> dict:
    """Finite-width networks (exact Gram engine): per-layer mean, standard error, 5–95 % band."""
    r = sp.simulate(s.nonlinearity, s.sigma_w2, s.sigma_b2, width=s.width, depth=s.depth, seeds=s.seeds,
                    dropout=s.dropout, q0=s.q0, c0=s.c0, engine="gram", seed=seed)
    return dict(layer=np.arange(s.depth + 1),
                q_mean=r.q_mean[:, 0], q_se=r.q_se[:, 0], q_lo=r.q_lo[:, 0], q_hi=r.q_hi[:, 0],
                c_mean=r.c_mean[:, 0], c_se=r.c_se[:, 0], c_lo=r.c_lo[:, 0], c_hi=r.c_hi[:, 0],
                width=s.width, seeds=s.seeds)


# ---- iterated maps (cobweb) --------------------------------------------------------------------


def cobweb_path(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The staircase (x₀,x₀) → (x₀,x₁) → (x₁,x₁) → (x₁,x₂) … of an iteration x_{l+1} = f(x_l)."""
    stairs = np.repeat(np.asarray(x, dtype=float), 2)
    return stairs[:-1], stairs[1:]


COBWEB_STEPS = 32
"""Steps drawn in the correlation cobweb (a staircase longer than this is not readable)."""


def iterated_maps(s: Settings, q_star: float, trajectory_data: dict) -> dict:
    """C(c) at q* with the cobweb from c⁰, and V(q) with the cobweb from q⁰.

    The correlation cobweb iterates c_{l+1} = C(c_l) at fixed q = q* (Poole et al. 2016, Fig. 2);
    the length cobweb iterates q_{l+1} = V(q_l), which is the q^l of ``trajectory_data``
    (:func:`trajectory`), reused rather than recomputed.
    """
    phi = s.nonlinearity
    c = np.linspace(-1.0, 1.0, MAP_POINTS)
    # kinked φ: C(c) from the cached Chebyshev panels (sigprop.correlation_tables), not the polar rule
    C, _ = sp.correlation_map(phi, c, s.sigma_w2, s.sigma_b2, s.dropout, quadrature=VIEW_QUADRATURE, method="table")
    t = sp.trajectories(phi, s.sigma_w2, s.sigma_b2, COBWEB_STEPS, q0=max(q_star, 1e-12), c0=s.c0,
                        dropout=s.dropout, quadrature=VIEW_QUADRATURE)
    cx, cy = cobweb_path(t.c[: min(s.depth, COBWEB_STEPS) + 1])
    q_iter = trajectory_data["q"][: COBWEB_STEPS + 1]
    q_top = float(max(2.0 * max(q_star, s.q0), 1.2 * np.max(q_iter), 0.5))
    q = np.linspace(0.0, q_top, MAP_POINTS)
    V = sp.length_map(phi, q, s.sigma_w2, s.sigma_b2, s.dropout, quadrature=VIEW_QUADRATURE)
    qx, qy = cobweb_path(q_iter)
    return dict(c=c, C=np.asarray(C), c_path=(cx, cy), q=q, V=V, q_path=(qx, qy))


def prebuild_tables(phi: str) -> None:
    """Build every Chebyshev panel the kinked-φ views can need (done by the server's warm-up).

    Otherwise a slider move into a new range of q pays a panel build (0.1–0.8 s) once.
    """
    f = sp.nonlinearity(phi)
    if not f.is_smooth:
        correlation_tables.panels(f, VIEW_QUADRATURE, np.exp(np.arange(-10.5, 11.0)))


# ---- function space (NNGP) ---------------------------------------------------------------------


def circle(s: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Angles θ_j and the first row of the circulant NNGP matrix K^L on the unit circle."""
    # kinked φ: per-layer r, D from the cached Chebyshev panels (smooth φ ignore method="table")
    ck = sp.circle_kernels(s.nonlinearity, N_CIRCLE, s.depth, s.sigma_w2, s.sigma_b2, s.dropout,
                           quadrature=VIEW_QUADRATURE, method="table")
    return ck.angles, ck.nngp_row


def function_space(s: Settings, train_theta=(), train_y=(), noise: float = 1e-3, seed: int = 1) -> dict:
    """Prior samples f ~ GP(0, K^L) on the circle, and the exact posterior given (θ_i, y_i).

    Training angles snap to the nearest of the N_CIRCLE grid angles, so every matrix is a slice
    of the one circulant kernel.
    """
    theta, row = circle(s)
    prior = sp.gp.circulant_prior_samples(row, N_SAMPLES, seed=seed)
    out = dict(theta=theta, samples=prior.samples, k_row=row, prior_sd=np.full_like(theta, np.sqrt(row[0])))
    if len(train_theta):
        n = theta.size
        idx = np.mod(np.rint(np.asarray(train_theta) / (2 * np.pi / n)).astype(int), n)
        lag = lambda i, j: row[np.mod(j[None, :] - i[:, None], n)]  # noqa: E731
        all_idx = np.arange(n)
        post = sp.gp_posterior(lag(idx, idx), lag(all_idx, idx), lag(all_idx, all_idx), np.asarray(train_y, float),
                               noise=noise, n_samples=3, seed=seed)
        out.update(post_mean=post.mean, post_sd=np.sqrt(post.variance), post_samples=post.samples,
                   train_theta=theta[idx], train_y=np.asarray(train_y, float), jitter=post.jitter)
    return out


# ---- phase diagram -----------------------------------------------------------------------------


def grid_axes(size: int = GRID_SIZE) -> tuple[np.ndarray, np.ndarray]:
    return np.linspace(*SIGMA_W2_RANGE, size), np.linspace(*SIGMA_B2_RANGE, size)


@functools.lru_cache(maxsize=64)
def phase(phi: str, dropout: float, size: int = GRID_SIZE) -> sp.PhaseDiagram:
    """The phase diagram over the dashboard's (σ_w², σ_b²) window, cached for every session.

    Drawn without the exact refinement of the cells beyond the Mehler series' bound (see
    :func:`sigprop.phase_diagram`): the picture does not resolve the difference, the readout
    comes from ``point``, and a refined custom-φ diagram would hold the server for minutes.
    """
    w, b = grid_axes(size)
    return sp.phase_diagram(phi, w, b, dropout, refine=False)


def phase_values(d: sp.PhaseDiagram, quantity: str) -> np.ndarray:
    """The grid of the chosen quantity, indexed [i_b, i_w]."""
    if quantity == "trainable_depth":
        return 6.0 * d.xi_c
    return getattr(d, quantity)


@functools.lru_cache(maxsize=64)
def critical_curve(phi: str, dropout: float, size: int = GRID_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The critical line inside the window (σ_w², σ_b² arrays).

    Without dropout: χ₁ = 1, parametrised by q* (:func:`sigprop.critical_line`). With dropout
    there is no χ₁ = 1 transition of c*; the ridge where ξ_c peaks along each σ_b² row is drawn.
    """
    if dropout == 1.0:
        try:
            w, b = sp.critical_line(phi, np.geomspace(1e-6, 50.0, 400))
        except SigpropError:
            return np.array([]), np.array([])
        keep = (b >= SIGMA_B2_RANGE[0]) & (b <= SIGMA_B2_RANGE[1]) & (w <= SIGMA_W2_RANGE[1]) & np.isfinite(w)
        return w[keep], b[keep]
    d = phase(phi, dropout, size)
    xi = np.where(np.isfinite(d.xi_c), d.xi_c, -np.inf)
    cols = np.argmax(xi, axis=1)
    ok = np.isfinite(np.max(xi, axis=1))
    return d.sigma_w2[cols][ok], d.sigma_b2[ok]


# ---- batch norm (Yang et al. 2019) ---------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def batchnorm_curve(phi: str) -> tuple[np.ndarray, np.ndarray]:
    """λ(φ, B) for B = MIN_BATCH … MAX_BATCH (one compiled call, cached for every session)."""
    bs = np.arange(MIN_BATCH, MAX_BATCH + 1)
    return bs, np.asarray(sp.batchnorm_lambda(phi, bs), dtype=float)


def batchnorm_view(phi: str, batch_size: int, depth: int) -> dict:
    """λ, ξ, q*, c* at B; the curve λ(B); and the theory gradient-norm ratio λ^(L−l), l = 0 … L.

    ‖∂L/∂x^l‖² / ‖∂L/∂x^L‖² = λ^(L−l): every BN layer multiplies the squared gradient norm by λ.
    """
    r = sp.batchnorm_point(phi, int(batch_size))
    bs, lam = batchnorm_curve(phi)
    layer = np.arange(depth + 1)
    return dict(phi=r.phi, batch_size=r.batch_size, lambda_=r.lambda_, xi=r.xi, q_star=r.q_star, c_star=r.c_star,
                lambda_l=r.lambda_l, lambda_m=r.lambda_m, xi_forward=r.xi_forward, lambda_cross=r.lambda_cross,
                xi_cross=r.xi_cross, B=bs, lambda_B=lam, layer=layer, ratio=r.lambda_ ** (depth - layer).astype(float))


def batchnorm_simulation(phi: str, batch_size: int, width: int, depth: int, seeds: int, seed: int = 0) -> dict:
    """Dense BN networks (width ≤ BN_SIM_WIDTH, seeds ≤ BN_SIM_SEEDS): ‖∂L/∂x^l‖²/‖∂L/∂x^L‖², mean ± SE."""
    b = int(batch_size)
    w = max(min(int(width), BN_SIM_WIDTH), 2 * b)
    n = max(min(int(seeds), BN_SIM_SEEDS), 2)
    r = sp.simulate_batchnorm(phi, batch_size=b, width=w, depth=int(depth), seeds=n, seed=seed)
    ratio = r.grad_sq / r.grad_sq[:, -1:]
    return dict(layer=np.arange(depth + 1), mean=ratio.mean(axis=0), se=ratio.std(axis=0, ddof=1) / np.sqrt(n),
                mean_growth=r.mean_growth(), width=w, seeds=n, batch_size=b, depth=int(depth), phi=phi)
