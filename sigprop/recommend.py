"""Initialisation advice for a deep fully connected network of depth L.

Three results of the mean-field theory, each a small function below:

1. **Where to initialise.** On the critical line χ₁ = 1 (Poole et al. 2016; Schoenholz et al. 2017),
   found by :func:`sigprop.critical_point` at a given σ_b². With dropout (keep-probability ρ < 1)
   there is no χ₁ = 1 transition of c* (Schoenholz et al. 2017, §5) and the σ_w² that maximises ξ_c
   is used instead. The default σ_b² (:func:`default_sigma_b2`) is 0 for positively homogeneous φ
   (ReLU, leaky ReLU, linear), whose only critical point is at σ_b² = 0 (ReLU: (2, 0), He et al.
   2015), and 0.05 otherwise, the value of Schoenholz et al. 2017's tanh experiments.

2. **How deep it trains.** Signals about the input's identity survive ~ξ_c layers, with
   ξ_c = −1/log χ_c; Schoenholz et al. 2017 (their trainability experiments, MNIST and CIFAR-10)
   find that networks train when L ≲ 6 ξ_c (:data:`DEPTH_FACTOR`). At exact criticality χ_c = 1,
   ξ_c = ∞ and the criterion puts no bound on L. Away from it, :func:`trainable_range` gives the
   interval [σ_w²_lo, σ_w²_hi] at fixed σ_b² on which 6 ξ_c ≥ L: how far σ_w² may drift.

3. **How well conditioned the input–output Jacobian is.** Pennington, Schoenholz & Ganguli 2017
   ("Resurrecting the sigmoid in deep learning through dynamical isometry", §2.2–2.5): with the
   pre-activations at their fixed point h ~ N(0, q*), J = Π_l W_l D_l, D_l = diag(φ'(h_l)), and
   with the moments μ_k = E[φ'(√q* z)^{2k}] of D² (μ₁ = χ₁/σ_w²), free probability gives for the
   squared singular values of J (eigenvalues of JJᵀ) the mean and variance

       m₁ = (σ_w² μ₁)^L = χ₁^L,        σ²_{JJᵀ} = m₁² · L (μ₂/μ₁² − 1 − s₁),

   where s₁ is the first coefficient of the S-transform S_{WWᵀ}(z) = σ_w⁻²(1 + s₁ z + …):
   s₁ = −1 for Gaussian W (Marchenko–Pastur) and s₁ = 0 for orthogonal W. (S-transforms multiply,
   S_{JJᵀ} = (S_{WWᵀ} S_{D²})^L, and to first order S(z) = m⁻¹(1 − (σ²/m²) z), so relative variances
   add over the 2L factors.) So at criticality Gaussian weights give σ²_{JJᵀ} = L μ₂/μ₁² ≥ L, never
   isometric, while orthogonal weights give L(μ₂/μ₁² − 1), which vanishes where μ₂/μ₁² → 1: for
   smooth φ with φ(0) = 0, φ'(0) ≠ 0 as q* → 0 (σ_b² → 0 along the critical line), but not for
   ReLU (μ₂/μ₁² = 2 at every q). Dropout, as in :mod:`sigprop.simulation`, puts the mask m/ρ
   in D, whose squared entries then have moments μ₁/ρ and μ₂/ρ³ (our extension of the paper): the
   formulas hold with χ₁ → χ₁/ρ and μ₂/μ₁² → μ₂/(ρ μ₁²). The test suite checks all of this
   against the spectra of finite random networks.

:func:`recommend` puts the three together, with ready-to-paste PyTorch and JAX snippets that use
:mod:`sigprop.init` and fall back to plain-framework code when sigprop is not installed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import brentq

from sigprop import quadrature as qd
from sigprop.critical import critical_line, critical_point, critical_stability
from sigprop.errors import LengthMapDivergesError, NoCriticalPointError, SigpropError
from sigprop.expectations import Q_TINY, _weighted, value_and_derivative
from sigprop.init import WEIGHTS, check_init_args
from sigprop.nonlinearities import NAMES, Nonlinearity, nonlinearity
from sigprop.point import MAX_VARIANCE, check_int, point, validate

DEPTH_FACTOR = 6.0
"""Networks train when L ≲ 6 ξ_c (Schoenholz et al. 2017, their trainability experiments)."""
MAX_DEPTH = 10_000_000
"""Largest depth accepted: 6/L stays far above the ~1e-13 resolution of χ_c near 1."""
BOUNDED_SIGMA_B2 = 0.05
"""Default σ_b² for φ that are not positively homogeneous (Schoenholz et al. 2017 use it for tanh)."""
S1 = {"gaussian": -1.0, "orthogonal": 0.0}
"""First S-transform coefficient s₁ of WWᵀ: S(z) = σ_w⁻²(1 + s₁ z + …) (Pennington et al. 2017)."""
ISOMETRY_SPREAD = 1.0
"""Relative variance σ²_{JJᵀ}/m₁² below which we call the Jacobian (nearly) isometric: the squared
singular values then spread by less than their mean."""
ISOMETRY_TOL = 1e-6
"""μ₂/μ₁² within this of 1 at the σ_b² → 0 end of the critical line counts as reaching isometry."""
_OFFSETS = np.geomspace(1e-10, 1.0, 22)
"""Relative offsets from the centre σ_w², growing about threefold, searched by :func:`trainable_range`
(scaled to reach 0.999·centre below it and :data:`HI_SCAN_FACTOR`·centre above it)."""
HI_SCAN_FACTOR = 100.0
"""The chaotic side is scanned up to this many times the centre σ_w² (the bound is reported as
unbounded, ``inf``, when 6 ξ_c ≥ L up to there)."""
_Q_SCAN = np.concatenate([[0.0], np.logspace(-14, 2, 321)])
"""q* values scanned along the critical line by :func:`isometric_sigma_b2`."""


# --------------------------------------------------------------------------------------------
# where: the default bias variance
# --------------------------------------------------------------------------------------------


def default_sigma_b2(phi: str | Nonlinearity) -> float:
    """σ_b² used when none is given: 0 for positively homogeneous φ, :data:`BOUNDED_SIGMA_B2` else.

    Positively homogeneous φ (φ(λx) = λφ(x), λ > 0: ReLU, leaky ReLU, linear) have a linear length
    map, so χ₁ = 1 with finite q* only at σ_b² = 0 (ReLU: σ_w² = 2).

    >>> default_sigma_b2("relu"), default_sigma_b2("tanh")
    (0.0, 0.05)
    """
    return 0.0 if nonlinearity(phi).homogeneous else BOUNDED_SIGMA_B2


# --------------------------------------------------------------------------------------------
# how deep: the σ_w² window where 6 ξ_c ≥ L
# --------------------------------------------------------------------------------------------


def _inverse_xi_c(phi: Nonlinearity, w: float, sigma_b2: float, rho: float, quad: qd.Quadrature) -> float:
    """1/ξ_c = −log|χ_c| at σ_w² = w: 0 at criticality, ∞ where χ_c = 0, NaN where q* is not finite."""
    try:
        xi = point(phi, w, sigma_b2, rho, quadrature=quad).xi_c
    except SigpropError:
        return math.nan
    return 0.0 if math.isinf(xi) else (math.inf if xi == 0.0 else 1.0 / xi)


def _finite_q(phi: Nonlinearity, w: float, sigma_b2: float, rho: float, quad: qd.Quadrature) -> bool:
    """Whether :func:`sigprop.point` finds a finite, stable q* at σ_w² = w."""
    try:
        point(phi, w, sigma_b2, rho, quadrature=quad)
    except SigpropError:
        return False
    return True


def _side_bound(phi, quad, centre: float, sigma_b2: float, rho: float, depth: int, ws: np.ndarray) -> float:
    """The σ_w² where 6 ξ_c = L between ``centre`` (where 6 ξ_c ≥ L) and the points ``ws`` beyond it.

    ``ws`` moves away from the centre geometrically; the first one where 6 ξ_c < L, or where q* is
    not finite, brackets the bound with the one before. Brent's method on g = 6/L − 1/ξ_c then finds
    6 ξ_c = L (g is finite and continuous through criticality, where 1/ξ_c = 0); at the edge of the
    finite-q* region bisection finds the edge. When 6 ξ_c ≥ L all the way, returns 0 below the
    centre and ``inf`` above it (no bound within the scan).
    """
    target = DEPTH_FACTOR / depth

    def g(w: float) -> float:
        return target - _inverse_xi_c(phi, w, sigma_b2, rho, quad)

    inside = centre
    for w in map(float, ws):
        gw = g(w)
        if gw >= 0.0:
            inside = w
            continue
        if not math.isnan(gw):
            return brentq(g, inside, w, xtol=1e-14 * centre, rtol=1e-13, maxiter=200)
        outside = w
        for _ in range(80):  # q* stops being finite between inside and outside: find that edge
            mid = 0.5 * (inside + outside)
            inside, outside = (mid, outside) if g(mid) >= 0.0 else (inside, mid)
        return centre if abs(inside / centre - 1.0) < 1e-9 else inside
    return math.inf if ws[-1] > centre else 0.0


def trainable_range(
    phi: str | Nonlinearity,
    sigma_b2: float,
    depth: int,
    dropout: float = 1.0,
    *,
    centre: float | None = None,
    quadrature: qd.Quadrature = qd.DEFAULT,
) -> tuple[float, float] | None:
    """The interval [σ_w²_lo, σ_w²_hi] around the critical σ_w², at fixed σ_b², where 6 ξ_c ≥ L.

    ξ_c(σ_w²) is infinite at the critical σ_w² (with dropout: largest at the ξ_c-maximising σ_w²)
    and falls off on both sides; near it ξ_c ≈ 1/|χ − 1|, so the window shrinks like 1/L. Each
    side is searched outwards on relative offsets from 1e-10 growing threefold (:data:`_OFFSETS`)
    until 6 ξ_c < L, and the crossing 6 ξ_c = L is then found by Brent's method on 6/L − 1/ξ_c,
    every value coming from :func:`sigprop.point`.

    Args:
      phi: nonlinearity; sigma_b2: σ_b² ≥ 0; depth: L ≥ 1; dropout: ρ ∈ (0, 1].
      centre: the σ_w² to start from (default: :func:`sigprop.critical_point`'s).

    Returns:
      (lo, hi); lo is 0 when 6 ξ_c ≥ L down to σ_w² → 0, hi is ``inf`` when 6 ξ_c ≥ L up to
      :data:`HI_SCAN_FACTOR` × centre, and hi is the edge where q* stops being finite when that comes
      first (ReLU at σ_b² = 0: hi = 2). ``None`` when even the centre has 6 ξ_c < L (possible only
      with dropout).

    >>> lo, hi = trainable_range("relu", 0.0, depth=60)   # ordered ReLU: ξ_c = −1/log(σ_w²/2)
    >>> round(lo, 10) == round(2 * math.exp(-0.1), 10), hi
    (True, 2.0)
    """
    phi = nonlinearity(phi)
    _, sb2, rho = validate(1.0, sigma_b2, dropout)
    depth = check_int(depth, "depth", 1, MAX_DEPTH)
    if centre is None:
        centre = critical_point(phi, sb2, rho, quadrature=quadrature).sigma_w2
    if not _inverse_xi_c(phi, centre, sb2, rho, quadrature) <= DEPTH_FACTOR / depth:
        return None
    lo_ws = centre * (1.0 - (1.0 - 1e-3) * _OFFSETS)
    hi_ws = centre * (1.0 + (min(HI_SCAN_FACTOR, MAX_VARIANCE / centre) - 1.0) * _OFFSETS)
    lo = _side_bound(phi, quadrature, centre, sb2, rho, depth, lo_ws)
    hi = _side_bound(phi, quadrature, centre, sb2, rho, depth, hi_ws)
    return lo, hi


# --------------------------------------------------------------------------------------------
# how well conditioned: moments of φ'² and the Jacobian spectrum (Pennington et al. 2017)
# --------------------------------------------------------------------------------------------


_X_BREAKS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
"""Extra panel edges, in x = √q z, for :func:`derivative_moments` (mirrored to negative x): they
resolve φ' on its own scale, however wide the Gaussian N(0, q) is."""


@functools.lru_cache(maxsize=64)
def _compiled_mu(phi: Nonlinearity, panel_nodes: int):
    breaks = tuple(sorted({*phi.kinks, *_X_BREAKS, *(-x for x in _X_BREAKS)}))

    def mu(q):
        sqrt_q = jnp.sqrt(jnp.maximum(q, Q_TINY))
        z, w = qd.split_normal_rule(breaks, sqrt_q, panel_nodes)
        _, d = value_and_derivative(phi, sqrt_q * z)
        d2 = d * d
        return jnp.sum(_weighted(w, d2), axis=0), jnp.sum(_weighted(w, d2 * d2), axis=0)

    return jax.jit(mu)


def derivative_moments(phi: str | Nonlinearity, q, *, quadrature: qd.Quadrature = qd.DEFAULT):
    """μ₁ = E[φ'(√q z)²] and μ₂ = E[φ'(√q z)⁴], z ~ N(0, 1), for an array (or scalar) q ≥ 0.

    These are the first two moments of D² = diag(φ'(h)²) at h ~ N(0, q) (Pennington et al. 2017,
    §2.2); μ₁ is the G(q) of :mod:`sigprop.expectations` and χ₁ = σ_w² μ₁. φ' comes from JAX.

    The rule is :func:`sigprop.quadrature.split_normal_rule` (``quadrature.panel_nodes``
    Gauss–Legendre nodes per panel) with panel edges at the kinks of φ and at fixed x (:data:`_X_BREAKS`),
    not plain Gauss–Hermite: φ'⁴ is sharper than the integrands of the maps (sech⁸ for tanh), and 256
    Gauss–Hermite nodes lose 5e-9 (relative) of E[sech⁸(√q z)] at q = 2 and 1e-4 at q = 5, where these
    panels keep ~1e-15 for tanh and sigmoid up to q = 200 (sin: 1e-10 at q = 50), against adaptive
    quadrature.

    >>> mu1, mu2 = derivative_moments("relu", 3.0)   # φ'² = 1{x > 0}: both are P(x > 0)
    >>> round(float(mu1), 14), round(float(mu2), 14)
    (0.5, 0.5)
    """
    phi = nonlinearity(phi)
    q = np.asarray(q, dtype=np.float64)
    if np.any(~np.isfinite(q)) or np.any(q < 0):
        raise SigpropError("q must be finite and non-negative")
    mu1, mu2 = _compiled_mu(phi, quadrature.panel_nodes)(jnp.atleast_1d(jnp.asarray(q)))
    mu1, mu2 = np.asarray(mu1).reshape(q.shape), np.asarray(mu2).reshape(q.shape)
    return (float(mu1), float(mu2)) if q.ndim == 0 else (mu1, mu2)


class JacobianSpectrum(NamedTuple):
    """Mean m₁ and variance σ² of the squared singular values of the end-to-end Jacobian.

    ``relative_variance`` = σ²/m₁², the spread that dynamical isometry asks to be small; it is
    finite even where m₁ = χ^L over- or underflows (then ``mean``, ``variance`` are inf or 0).
    """

    mean: float
    variance: float
    relative_variance: float


def jacobian_spectrum(
    mu1: float, mu2: float, sigma_w2: float, depth: int, weights: str = "orthogonal", dropout: float = 1.0
) -> JacobianSpectrum:
    """m₁ = (σ_w² μ₁/ρ)^L and σ²_{JJᵀ} = m₁² L (μ₂/(ρ μ₁²) − 1 − s₁) (Pennington et al. 2017).

    s₁ = −1 for ``"gaussian"`` and 0 for ``"orthogonal"`` weights (:data:`S1`); ρ is the dropout
    keep-probability (the module docstring derives the 1/ρ factors).

    >>> jacobian_spectrum(0.5, 0.5, 2.0, depth=10, weights="orthogonal")   # ReLU at (2, 0)
    JacobianSpectrum(mean=1.0, variance=10.0, relative_variance=10.0)
    """
    rel = depth * (mu2 / (dropout * mu1 * mu1) - 1.0 - S1[weights])
    try:
        mean = math.exp(depth * math.log(sigma_w2 * mu1 / dropout))
    except OverflowError:
        mean = math.inf
    variance = mean * mean * rel if math.isfinite(mean) else math.inf
    return JacobianSpectrum(mean, variance, rel)


def isometry_limit(phi: str | Nonlinearity, *, quadrature: qd.Quadrature = qd.DEFAULT) -> float | None:
    """μ₂/μ₁² at the σ_b² → 0 end of the critical line (``None`` if there is no critical point there).

    Orthogonal weights can make the Jacobian isometric only where μ₂/μ₁² → 1, i.e. where φ'(h)² stops
    fluctuating over h ~ N(0, q*). q* is smallest at the σ_b² = 0 end of the critical line, and there
    μ₂/μ₁² = 1 exactly when q* → 0 and φ' is continuous at 0 (Pennington et al. 2017: tanh reaches
    isometry as q* → 0, ReLU never). This is the value computed here; :func:`isometric_sigma_b2` says how small
    σ_b² must be at a given depth. (It is the smallest value along the line for every registry φ but
    SELU, which dips from 1.224 to ~1.21 near σ_b² = 0.01 and never approaches 1.)

    >>> isometry_limit("tanh"), isometry_limit("relu")
    (1.0, 2.0)
    """
    phi = nonlinearity(phi)
    try:
        q = critical_point(phi, 0.0, quadrature=quadrature).q_star
    except NoCriticalPointError:
        return None
    mu1, mu2 = derivative_moments(phi, q, quadrature=quadrature)
    return mu2 / (mu1 * mu1)


def isometry_table(names=NAMES, *, quadrature: qd.Quadrature = qd.DEFAULT) -> dict[str, float | None]:
    """:func:`isometry_limit` for each registry nonlinearity: which can reach dynamical isometry.

    Computed, not hard-coded: μ₂/μ₁² → 1 (within :data:`ISOMETRY_TOL`) for smooth φ with φ(0) = 0
    and φ'(0) ≠ 0 (tanh, erf, sin, GELU, SiLU, ELU, linear) and for hard-tanh (φ' ∈ {0, 1} with
    P(|h| < 1) → 1); it stays at 2(1 + a⁴)/(1 + a²)² for ReLU (2), leaky ReLU and SELU, whose φ' jumps
    at 0 from a·φ'(0⁺) to φ'(0⁺), and well above 1 where the critical line at σ_b² = 0 has a large q*
    (sigmoid ≈ 4.4; softplus, ReLU-like at its q* ~ 1e5, 2). GELU and SiLU reach 1 only where their
    critical σ_w² (→ 4 as σ_b² → 0) exceeds 1/growth = 2, so that large inputs make the length map
    diverge: :func:`isometric_sigma_b2` then returns ``None``.
    """
    return {name: isometry_limit(name, quadrature=quadrature) for name in names}


def reaches_isometry(limit: float | None) -> bool:
    """True when μ₂/μ₁² → 1 along the critical line (see :func:`isometry_limit`)."""
    return limit is not None and abs(limit - 1.0) <= ISOMETRY_TOL


def isometric_sigma_b2(
    phi: str | Nonlinearity,
    depth: int,
    spread: float = ISOMETRY_SPREAD,
    *,
    quadrature: qd.Quadrature = qd.DEFAULT,
) -> float | None:
    """Largest σ_b² on the critical line where orthogonal weights keep L(μ₂/μ₁² − 1) ≤ ``spread``.

    The critical line is walked in q* (σ_w² = 1/μ₁(q*), σ_b² = q* − E[φ²]/μ₁, as in
    :func:`sigprop.critical_line`); the first q* where L(μ₂/μ₁² − 1) exceeds ``spread`` is bracketed on
    a log grid and refined by Brent's method. ``None`` when φ cannot reach isometry, or when the
    crossing lies where σ_b² < 0 or where the critical point has no stable q* (GELU and SiLU, whose
    critical σ_w² exceeds 2 at small σ_b²). This is the trade-off Pennington et al. 2017 describe for orthogonal
    tanh networks: a smaller q* is more isometric but closer to a linear network.
    """
    phi = nonlinearity(phi)
    depth = check_int(depth, "depth", 1, MAX_DEPTH)
    if not reaches_isometry(isometry_limit(phi, quadrature=quadrature)):
        return None

    def excess(q) -> np.ndarray:
        mu1, mu2 = derivative_moments(phi, q, quadrature=quadrature)
        return depth * (mu2 / (mu1 * mu1) - 1.0) - spread

    h = excess(_Q_SCAN)
    over = np.flatnonzero(~(h <= 0.0))
    if over.size == 0 or over[0] == 0:
        return None
    i = int(over[0])
    q = brentq(lambda x: float(excess(x)), _Q_SCAN[i - 1], _Q_SCAN[i], xtol=1e-300, rtol=1e-13)
    w, b = critical_line(phi, [q], quadrature=quadrature)
    sw2, sb2 = float(w[0]), float(b[0])
    return sb2 if sb2 >= 0.0 and critical_stability(phi, quadrature, sw2, sb2, q)[0] else None


# --------------------------------------------------------------------------------------------
# the recommendation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    """Initialisation advice for one (φ, depth, ρ, σ_b²); see :func:`recommend` for the fields.

    Depth scales, ``max_depth`` and range ends may be ``math.inf``; :meth:`to_dict` turns them into
    ``None`` (JSON ``null``).
    """

    phi: str
    depth: int
    dropout: float
    sigma_w2: float
    sigma_b2: float
    sigma_b2_is_default: bool
    criterion: str
    q_star: float
    chi_1: float
    chi_c: float
    xi_c: float
    xi_q: float
    max_depth: float
    trainable: bool
    sigma_w2_range: tuple[float, float] | None
    mu1: float
    mu2: float
    isometry_ratio: float
    isometry_limit: float | None
    isometry_sigma_b2: float | None
    jacobian: dict[str, JacobianSpectrum]
    weights: str
    advice: tuple[str, ...]
    note: str
    snippets: dict[str, str] = field(repr=False)

    def to_dict(self) -> dict:
        """A JSON-ready dict with the keys documented in :func:`recommend` (inf → ``None``)."""
        d = {
            "phi": self.phi,
            "depth": self.depth,
            "dropout": self.dropout,
            "sigma_w2": self.sigma_w2,
            "sigma_b2": self.sigma_b2,
            "sigma_b2_is_default": self.sigma_b2_is_default,
            "criterion": self.criterion,
            "q_star": self.q_star,
            "chi_1": self.chi_1,
            "chi_c": self.chi_c,
            "xi_c": self.xi_c,
            "xi_q": self.xi_q,
            "depth_factor": DEPTH_FACTOR,
            "max_depth": self.max_depth,
            "trainable": self.trainable,
            "sigma_w2_range": None if self.sigma_w2_range is None else list(self.sigma_w2_range),
            "mu1": self.mu1,
            "mu2": self.mu2,
            "isometry_ratio": self.isometry_ratio,
            "isometry_limit": self.isometry_limit,
            "isometry_reachable": reaches_isometry(self.isometry_limit),
            "isometry_sigma_b2": self.isometry_sigma_b2,
            "jacobian": {k: v._asdict() for k, v in self.jacobian.items()},
            "weights": self.weights,
            "advice": list(self.advice),
            "note": self.note,
            "snippets": dict(self.snippets),
        }
        return _json_safe(d)


def _json_safe(x):
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def recommend(
    phi: str | Nonlinearity,
    depth: int,
    dropout: float = 1.0,
    sigma_b2: float | None = None,
    *,
    quadrature: qd.Quadrature = qd.DEFAULT,
) -> Recommendation:
    """Critical initialisation, depth limit, σ_w² tolerance and weight ensemble for a depth-L network.

    Args:
      phi: registry name, custom expression in ``x`` or :class:`sigprop.Nonlinearity`.
      depth: number of layers L ≥ 1 (at most :data:`MAX_DEPTH`).
      dropout: keep-probability ρ ∈ (0, 1].
      sigma_b2: σ_b² ≥ 0; ``None`` for :func:`default_sigma_b2`.

    Returns:
      A :class:`Recommendation`. Its :meth:`~Recommendation.to_dict` has the stable keys
      ``phi, depth, dropout`` (echoed), ``sigma_w2, sigma_b2`` (the recommended pair),
      ``sigma_b2_is_default``, ``criterion`` (``"chi_1 = 1"`` or ``"max xi_c (dropout)"``),
      ``q_star, chi_1, chi_c, xi_c, xi_q`` (at that pair), ``depth_factor`` (6), ``max_depth``
      (6 ξ_c; ``null`` = unbounded by this criterion, at exact criticality), ``trainable``
      (L ≤ 6 ξ_c), ``sigma_w2_range`` ([lo, hi] at fixed σ_b² where 6 ξ_c ≥ L; hi ``null`` = no upper
      bound found; the whole is ``null`` when no σ_w² reaches it), ``mu1, mu2`` (E[φ'²], E[φ'⁴] at
      q*), ``isometry_ratio`` (μ₂/μ₁²), ``isometry_limit`` (μ₂/μ₁² at σ_b² → 0 on the critical line,
      ``null`` without one), ``isometry_reachable``, ``isometry_sigma_b2`` (largest σ_b² at which
      orthogonal weights keep the relative spread ≤ 1 at this depth, ``null`` if none),
      ``jacobian`` ({gaussian, orthogonal} → {mean, variance, relative_variance} of the squared
      singular values of the input–output Jacobian), ``weights`` (the recommended ensemble),
      ``advice`` (sentences), ``note`` (accuracy caveats of :func:`sigprop.point`, usually empty) and
      ``snippets`` ({torch, jax}: Python source).

    Raises:
      InvalidParameterError: depth, ρ or σ_b² out of range. UnknownNonlinearityError: bad φ.
      NoCriticalPointError: no critical σ_w² at this σ_b² (e.g. ReLU with σ_b² > 0).

    >>> r = recommend("relu", 50)
    >>> r.sigma_w2, r.sigma_b2, r.trainable, r.isometry_ratio
    (2.0, 0.0, True, 2.0)
    """
    phi = nonlinearity(phi)
    depth = check_int(depth, "depth", 1, MAX_DEPTH)
    is_default = sigma_b2 is None
    _, sb2, rho = validate(1.0, default_sigma_b2(phi) if is_default else sigma_b2, dropout)
    cp = critical_point(phi, sb2, rho, quadrature=quadrature)
    if not cp.stable:  # the network would not sit at this critical q*: never hand it out
        stable = _stable_sigma_b2(phi, sb2, quadrature) if is_default and rho == 1.0 else None
        if stable is None:  # the user chose σ_b²: say why it fails and what would work
            raise LengthMapDivergesError(_unstable_critical_point(phi, cp, quadrature))
        sb2 = stable  # no σ_b² was asked for: take the first default candidate that works
        cp = critical_point(phi, sb2, rho, quadrature=quadrature)
    r = point(phi, cp.sigma_w2, sb2, rho, quadrature=quadrature)
    xi_c = math.inf if rho == 1.0 else r.xi_c  # χ_c = 1 exactly on the critical line
    max_depth = DEPTH_FACTOR * xi_c
    window = trainable_range(phi, sb2, depth, rho, centre=cp.sigma_w2, quadrature=quadrature)
    hi_is_edge = (
        window is not None
        and math.isfinite(window[1])
        and not _finite_q(phi, window[1] * (1 + 1e-9), sb2, rho, quadrature)
    )
    mu1, mu2 = derivative_moments(phi, r.q_star, quadrature=quadrature)
    jac = {w: jacobian_spectrum(mu1, mu2, cp.sigma_w2, depth, w, rho) for w in WEIGHTS}
    limit = isometry_limit(phi, quadrature=quadrature)
    iso_sb2 = isometric_sigma_b2(phi, depth, quadrature=quadrature) if rho == 1.0 else None
    fields = {
        "phi": phi.name,
        "depth": depth,
        "dropout": rho,
        "sigma_w2": cp.sigma_w2,
        "sigma_b2": sb2,
        "sigma_b2_is_default": is_default,
        "criterion": cp.criterion,
        "q_star": r.q_star,
        "chi_1": r.chi_1,
        "chi_c": 1.0 if rho == 1.0 else r.chi_c,
        "xi_c": xi_c,
        "xi_q": r.xi_q,
        "max_depth": max_depth,
        "trainable": depth <= max_depth,
        "sigma_w2_range": window,
        "mu1": mu1,
        "mu2": mu2,
        "isometry_ratio": mu2 / (mu1 * mu1),
        "isometry_limit": limit,
        "isometry_sigma_b2": iso_sb2,
        "jacobian": jac,
        "weights": "orthogonal",  # never worse: its spread is smaller by L (s₁ = 0 against −1)
        "note": r.note,
    }
    header = _snippet_header(fields)
    snippets = {
        "torch": torch_snippet(cp.sigma_w2, sb2, "orthogonal", header),
        "jax": jax_snippet(cp.sigma_w2, sb2, "orthogonal", header),
    }
    return Recommendation(**fields, advice=tuple(_advice(fields, hi_is_edge)), snippets=snippets)


_TRY_SIGMA_B2 = (0.1, 0.2, 0.5, 1.0, 2.0)
"""σ_b² values tried, in order, for a hint when the critical point has no stable q* (GELU, SiLU)."""


def _stable_sigma_b2(phi: Nonlinearity, sigma_b2: float, quad) -> float | None:
    """The first σ_b² of :data:`_TRY_SIGMA_B2` above ``sigma_b2`` whose critical point has a stable q*."""
    for b in _TRY_SIGMA_B2:
        if b <= sigma_b2:
            continue
        try:
            if critical_point(phi, b, quadrature=quad).stable:
                return b
        except SigpropError:
            continue
    return None


def _unstable_critical_point(phi: Nonlinearity, cp, quad) -> str:
    """One line for a critical point the network does not reach (``cp.stable`` false, ρ = 1 only).

    GELU and SiLU at small σ_b² have a critical σ_w² above 1/growth = 2, where V(q)/q → σ_w²/2 > 1
    and their critical q* is unstable; at some larger σ_b² (SiLU at 0.5) the critical q* is unstable
    while a smaller stable one attracts. ``cp.note`` says which; the hint is the first σ_b² of
    :data:`_TRY_SIGMA_B2` whose critical point is stable.
    """
    hint = "choose a larger σ_b² or another φ"
    b = _stable_sigma_b2(phi, cp.sigma_b2, quad)
    if b is not None:
        hint = f"try σ_b² = {b:g} (critical σ_w² = {critical_point(phi, b, quadrature=quad).sigma_w2:.6g})"
    return f"for φ = {phi.name} at σ_b² = {cp.sigma_b2!r}, {cp.note}; there is no stable critical point there; {hint}"


# --------------------------------------------------------------------------------------------
# words: advice, text report and code snippets
# --------------------------------------------------------------------------------------------


def _g(x: float | None, digits: int = 6) -> str:
    if x is None:
        return "none"
    return "inf" if math.isinf(x) else f"{x:.{digits}g}"


def _advice(f: dict, hi_is_edge: bool = False) -> list[str]:
    """Sentences for a researcher: the depth verdict, the σ_w² trade-off and the weights."""
    L, rho, lines = f["depth"], f["dropout"], []
    if f["sigma_b2_is_default"] and f["sigma_b2"] != default_sigma_b2(f["phi"]):
        lines.append(
            f"σ_b² = {f['sigma_b2']:g}, not the usual default {default_sigma_b2(f['phi']):g}: for φ = {f['phi']} the "
            "critical point there has no stable q* (large inputs blow up), so the first σ_b² with a stable one is used."
        )
    if math.isinf(f["max_depth"]):
        lines.append(
            f"At exact criticality χ_c = 1 and ξ_c = ∞: depth {L} is trainable, and the 6 ξ_c criterion "
            "puts no bound on depth; in practice the precision of σ_w² (next line) and finite width do."
        )
    elif f["trainable"]:
        lines.append(f"Depth {L} ≤ 6 ξ_c = {_g(f['max_depth'], 4)}: trainable by the 6 ξ_c criterion.")
    else:
        lines.append(
            f"Depth {L} > 6 ξ_c = {_g(f['max_depth'], 4)}: too deep to train by the 6 ξ_c criterion"
            + (
                f" at any σ_w² for σ_b² = {f['sigma_b2']:g} and dropout ρ = {rho:g} (use less dropout, fewer "
                "layers or another σ_b²)."
                if rho < 1
                else "."
            )
        )
    window = f["sigma_w2_range"]
    if window is not None:
        lo, hi = window
        w = f["sigma_w2"]
        hi_text = (
            f"{_g(hi)} ({100 * (hi / w - 1):+.3g} %)"
            if math.isfinite(hi)
            else f"∞ (no bound up to {HI_SCAN_FACTOR:g}× σ_w²)"
        )
        edge = " (above it q* is not finite)" if hi_is_edge else ""
        lines.append(
            f"σ_w² may drift within [{_g(lo)} ({100 * (lo / w - 1):+.3g} %), {hi_text}]{edge} at σ_b² = "
            f"{f['sigma_b2']:g} and keep 6 ξ_c ≥ {L}; the window narrows like 1/L (ξ_c ≈ 1/|χ − 1|)."
        )
    gauss, orth = f["jacobian"]["gaussian"], f["jacobian"]["orthogonal"]
    ratio = f["isometry_ratio"]
    lines.append(
        f"Jacobian spread σ²_JJᵀ/m₁² at depth {L}: Gaussian W {_g(gauss.relative_variance, 4)} "
        f"(= L·μ₂/μ₁²{'/ρ' if rho < 1 else ''}, ≥ L: never isometric), orthogonal W "
        f"{_g(orth.relative_variance, 4)} (= L(μ₂/μ₁²{'/ρ' if rho < 1 else ''} − 1)); μ₂/μ₁² = {ratio:.6g}."
    )
    limit = f["isometry_limit"]
    if orth.relative_variance <= ISOMETRY_SPREAD:
        lines.append(
            "Dynamical isometry matters here and orthogonal weights give it (spread ≤ 1): use orthogonal "
            "weights (Pennington, Schoenholz & Ganguli 2017)."
        )
    elif rho < 1:
        lines.append(
            "Dropout rules out dynamical isometry: the orthogonal spread L(μ₂/(ρμ₁²) − 1) is at least "
            f"L(1/ρ − 1) = {L * (1 / rho - 1):.4g} at any σ_b², for any φ; it is still smaller than the Gaussian by L."
        )
    elif reaches_isometry(limit) and f["isometry_sigma_b2"] is not None:
        lines.append(
            f"Orthogonal weights are not isometric at this σ_b²; φ = {f['phi']} reaches isometry as σ_b² → 0 "
            f"(μ₂/μ₁² → 1): on the critical line σ_b² ≤ {_g(f['isometry_sigma_b2'], 4)} keeps the orthogonal "
            f"spread ≤ 1 at depth {L}, at the price of a smaller q* (a more linear network)."
        )
    elif reaches_isometry(limit):
        lines.append(
            f"φ = {f['phi']} has μ₂/μ₁² → 1 only as σ_b² → 0, and no σ_b² with a stable critical point keeps the "
            f"orthogonal spread ≤ 1 at depth {L}; orthogonal weights still make it smaller by L."
        )
    else:
        lim = "no critical line at σ_b² = 0" if limit is None else f"μ₂/μ₁² ≥ {limit:.4g} on the critical line"
        lines.append(
            f"φ = {f['phi']} cannot reach dynamical isometry ({lim}): the spread grows ∝ L with either "
            "ensemble; orthogonal weights still make it smaller."
        )
    if rho < 1:
        lines.append(
            f"With dropout the squared singular values grow by χ₁/ρ = {f['chi_1'] / rho:.4g} per layer on average "
            f"(m₁ = (χ₁/ρ)^L = {_g(orth.mean, 4)})."
        )
    return lines


def _snippet_header(f: dict) -> str:
    what = "critical, χ₁ = 1" if f["dropout"] == 1.0 else f"largest ξ_c at dropout ρ = {f['dropout']:g}"
    name = " ".join(f["phi"].split())  # a custom expression may span lines: keep the comment one line
    return (
        f"# sigprop recommend: φ = {name}, depth {f['depth']} ({what}; Schoenholz et al. 2017)\n"
        f"# σ_w² = {f['sigma_w2']:.6g}, σ_b² = {f['sigma_b2']:g}; orthogonal weights for dynamical isometry\n"
        "# (Pennington, Schoenholz & Ganguli 2017). Works with or without sigprop installed."
    )


def torch_snippet(sigma_w2: float, sigma_b2: float, weights: str = "orthogonal", header: str = "") -> str:
    """PyTorch code that initialises the ``nn.Linear`` layers of ``model`` at (σ_w², σ_b²).

    It uses :func:`sigprop.init.torch_.init_linear_` when sigprop is installed, and otherwise
    defines the same function in plain PyTorch (same draws, in the same order). The last line
    expects a ``model`` (any ``nn.Module``).
    """
    sigma_w2, sigma_b2, weights = check_init_args(sigma_w2, sigma_b2, weights)
    body = f"""import math

from torch import nn

SIGMA_W2 = {sigma_w2!r}
SIGMA_B2 = {sigma_b2!r}
WEIGHTS = "{weights}"  # or "gaussian"

try:  # with sigprop installed
    from sigprop.init.torch_ import init_linear_
except ImportError:  # the same in plain PyTorch

    def init_linear_(module, sigma_w2, sigma_b2, weights="gaussian", generator=None):
        rng = {{}} if generator is None else {{"generator": generator}}
        for m in module.modules():
            if isinstance(m, nn.Linear):
                fan_out, fan_in = m.weight.shape
                if weights == "orthogonal":  # W = g·O, g² = σ_w² max(1, fan_out/fan_in)
                    gain = math.sqrt(sigma_w2 * max(1.0, fan_out / fan_in))
                    nn.init.orthogonal_(m.weight, gain=gain, **rng)
                else:  # W_ij ~ N(0, σ_w²/fan_in)
                    nn.init.normal_(m.weight, std=math.sqrt(sigma_w2 / fan_in), **rng)
                if m.bias is not None:  # b_i ~ N(0, σ_b²)
                    nn.init.normal_(m.bias, std=math.sqrt(sigma_b2), **rng)
        return module


init_linear_(model, SIGMA_W2, SIGMA_B2, weights=WEIGHTS)  # model: your nn.Module
"""
    return (header + "\n" if header else "") + body


def jax_snippet(sigma_w2: float, sigma_b2: float, weights: str = "orthogonal", header: str = "") -> str:
    """JAX code: ``jax.nn.initializers``-style initialisers and an Equinox re-initialiser.

    Uses :mod:`sigprop.init.jax_` when sigprop is installed, else defines the same functions from
    ``jax.nn.initializers`` (same keys, same draws). The last line expects an Equinox ``model``.
    """
    sigma_w2, sigma_b2, weights = check_init_args(sigma_w2, sigma_b2, weights)
    body = f"""import math

import jax

SIGMA_W2 = {sigma_w2!r}
SIGMA_B2 = {sigma_b2!r}
WEIGHTS = "{weights}"  # or "gaussian"

try:  # with sigprop installed
    from sigprop.init.jax_ import bias_init, init_linear, weight_init
except ImportError:  # the same in plain JAX (+ Equinox for init_linear)

    def weight_init(sigma_w2, weights="gaussian", *, in_axis=-2, out_axis=-1):
        if weights == "gaussian":  # W_ij ~ N(0, σ_w²/fan_in)
            scaling = jax.nn.initializers.variance_scaling
            return scaling(sigma_w2, "fan_in", "normal", in_axis=in_axis, out_axis=out_axis)

        def init(key, shape, dtype=None):  # W = g·O, g² = σ_w² max(1, fan_out/fan_in)
            gain = math.sqrt(sigma_w2 * max(1.0, shape[out_axis] / shape[in_axis]))
            kwargs = {{}} if dtype is None else {{"dtype": dtype}}
            return jax.nn.initializers.orthogonal(gain, column_axis=out_axis)(key, shape, **kwargs)

        return init

    def bias_init(sigma_b2):  # b_i ~ N(0, σ_b²)
        return jax.nn.initializers.normal(math.sqrt(sigma_b2)) if sigma_b2 > 0 else jax.nn.initializers.zeros

    def init_linear(model, sigma_w2, sigma_b2, *, key, weights="gaussian"):
        import equinox as eqx

        def linears(tree):
            leaves = jax.tree_util.tree_leaves(tree, is_leaf=lambda x: isinstance(x, eqx.nn.Linear))
            return [x for x in leaves if isinstance(x, eqx.nn.Linear)]

        layers = linears(model)
        w_init, b_init = weight_init(sigma_w2, weights, in_axis=-1, out_axis=-2), bias_init(sigma_b2)
        keys = jax.random.split(key, 2 * len(layers))
        new_w = [w_init(k, x.weight.shape, x.weight.dtype) for k, x in zip(keys[::2], layers)]
        model = eqx.tree_at(lambda m: [x.weight for x in linears(m)], model, new_w)
        new_b = [b_init(k, x.bias.shape, x.bias.dtype) for k, x in zip(keys[1::2], layers) if x.bias is not None]
        if new_b:
            model = eqx.tree_at(lambda m: [x.bias for x in linears(m) if x.bias is not None], model, new_b)
        return model


# Flax/Haiku Dense kernels are (fan_in, fan_out), the default axes, e.g.
#   flax.linen.Dense(width, kernel_init=weight_init(SIGMA_W2, WEIGHTS), bias_init=bias_init(SIGMA_B2))
# Equinox stores Linear.weight as (fan_out, fan_in); init_linear handles that:
model = init_linear(model, SIGMA_W2, SIGMA_B2, key=jax.random.key(0), weights=WEIGHTS)  # model: Equinox
"""
    return (header + "\n" if header else "") + body


def format_recommendation(rec: Recommendation, snippets: bool = True) -> str:
    """The text report of ``sigprop recommend``."""
    dflt = " (default)" if rec.sigma_b2_is_default else ""
    where = "critical: χ₁ = 1" if rec.dropout == 1.0 else f"largest ξ_c at ρ = {rec.dropout:g}; χ₁ = {rec.chi_1:.6g}"
    if math.isinf(rec.max_depth):
        depth_line = "unbounded by this criterion (ξ_c = ∞ at χ_c = 1)"
    else:
        depth_line = f"{rec.max_depth:.6g} layers"
    verdict = "trainable" if rec.trainable else "NOT trainable"
    window = "none" if rec.sigma_w2_range is None else f"[{_g(rec.sigma_w2_range[0])}, {_g(rec.sigma_w2_range[1])}]"
    gauss, orth = rec.jacobian["gaussian"], rec.jacobian["orthogonal"]
    lines = [
        f"φ = {rec.phi}, depth L = {rec.depth}, dropout ρ = {rec.dropout:g}",
        f"σ_w²          = {rec.sigma_w2:.12g}   ({where})",
        f"σ_b²          = {rec.sigma_b2:g}{dflt}",
        f"q*            = {rec.q_star:.12g}",
        f"ξ_c           = {_g(rec.xi_c, 12)}",
        f"ξ_q           = {_g(rec.xi_q, 12)}",
        f"max depth     = 6 ξ_c = {depth_line}  (Schoenholz et al. 2017)",
        f"verdict       = depth {rec.depth} is {verdict}",
        f"σ_w² window   = {window}  (6 ξ_c ≥ {rec.depth} at σ_b² = {rec.sigma_b2:g})",
        f"μ₁, μ₂        = {rec.mu1:.8g}, {rec.mu2:.8g}  (E[φ'(√q* z)²], E[φ'(√q* z)⁴])",
        f"μ₂/μ₁²        = {rec.isometry_ratio:.8g}",
        f"isometry      = μ₂/μ₁² → {_g(rec.isometry_limit, 8)} as σ_b² → 0 on the critical line"
        + (" (reachable)" if reaches_isometry(rec.isometry_limit) else " (not reachable)"),
        f"Jacobian      = m₁ = {_g(orth.mean, 6)}; σ²/m₁² Gaussian {_g(gauss.relative_variance, 6)}, "
        f"orthogonal {_g(orth.relative_variance, 6)}  (Pennington et al. 2017)",
        f"weights       = {rec.weights}",
        "",
        *(f"- {a}" for a in rec.advice),
        *([f"note: {rec.note}"] if rec.note else []),
    ]
    if snippets:
        lines += ["", "PyTorch:", rec.snippets["torch"], "JAX (jax.nn.initializers / Equinox):", rec.snippets["jax"]]
    return "\n".join(lines).rstrip()


__all__ = [
    "DEPTH_FACTOR",
    "JacobianSpectrum",
    "Recommendation",
    "default_sigma_b2",
    "derivative_moments",
    "format_recommendation",
    "isometric_sigma_b2",
    "isometry_limit",
    "isometry_table",
    "jacobian_spectrum",
    "jax_snippet",
    "reaches_isometry",
    "recommend",
    "torch_snippet",
    "trainable_range",
]
