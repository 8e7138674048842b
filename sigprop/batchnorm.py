"""Mean-field theory of batch-normalised fully connected networks (Yang, Pennington, Rao,
Sohl-Dickstein & Schoenholz 2019, "A Mean Field Theory of Batch Normalization", ICLR).

The network, for a batch of B inputs (columns):

    h^l = W^l x^{l−1},   x^l = φ(BN(h^l)),   W ~ N(0, σ_w²/N), no bias,

with BN acting on each unit over the batch, γ = 1, β = 0 and **no ε**:
BN(h)_b = (h_b − mean_B h)/√var_B h, var_B the population variance (divide by B). Then
BN(h) = √B·Gh/‖Gh‖ with G = I − 11ᵀ/B. BN is scale invariant, so σ_w² drops out of everything.

**Forward.** At large width the rows of h^l are i.i.d. N(0, Σ^l), Σ^l = σ_w² K^{l−1} with K the
post-activation batch kernel xᵀx/N. For a permutation-symmetric Σ = q((1−c)I + c11ᵀ), G kills the
c11ᵀ part, so u = BN(h) is uniform on the sphere ‖u‖² = B in the (B−1)-dim hyperplane Σ_b u_b = 0,
whatever q and c. Hence the symmetric (BSB1) fixed point of K ↦ E[φ(u)φ(u)ᵀ] is

    K* = q*((1 − c*) I + c* 11ᵀ),   q* = E[φ(u₁)²],   c* = E[φ(u₁)φ(u₂)]/q*

(post-activation kernel; the pre-activation one is σ_w² K*). The reduced laws, derived by
projecting the sphere: u₁ = √(B−1)·sin θ with density ∝ cos^{B−3}θ on [−π/2, π/2] (that is
t = u₁/√(B−1) ∝ (1 − t²)^{(B−4)/2}); given u₁, the other B−1 coordinates have mean −u₁/(B−1) and
a uniform deviation of radius R = √(B(1 − u₁²/(B−1))) in their own (B−2)-dim hyperplane, so

    u₂ = −u₁/(B−1) + R √((B−2)/(B−1)) sin θ',   density ∝ cos^{B−4}θ'.

In θ, θ' the weights are integer powers of cos (smooth), and each rule is split into Gauss–Legendre
panels at φ's kinks, at 8 equal steps over the support (or over |u| ≤ 10 standard units where that
is smaller: the law of u₁ tends to N(0, 1)) and, in u₁, where a kink of φ(u₂) leaves u₂'s support;
there the inner integral behaves like δ^{k+1/2}, so the u₁ panels are graded towards their ends.
Accuracy ≲ 1e-12 relative (benchmarks/bench_batchnorm.py).

**Backward.** ∂BN/∂h = (√B/‖Gh‖)(G − ûûᵀ), û = Gh/‖Gh‖. With ‖Gh‖² = σ_w² s χ²_{B−1}
independent of û (s = q*(1 − c*), the G-part of K*), E[1/χ²_{B−1}] = 1/(B−3), and the gradient
batch covariance Π = E[g gᵀ] maps back as Π ↦ B/(s(B−3)) E[P D Π D P], P = G − ûûᵀ, D = diag φ'(u).
By permutation symmetry and positivity its top eigenvector is G, whose eigenvalue is the
per-layer growth of the squared gradient norm:

    λ = B [ (B−2)A₁ + (A₁ + (B−1)A₂)/B − A₃ + (A₃ + (B−1)A₄)/B ] / (s (B−1)(B−3)),
    A₁ = E φ'(u₁)²,  A₂ = E φ'(u₁)φ'(u₂),  A₃ = E φ'(u₁)²u₁²,  A₄ = E φ'(u₁)φ'(u₂)u₁u₂.

Linear φ gives λ = (B−2)/(B−3) exactly, ReLU λ → π/(π − 1) as B → ∞ (both in the paper). The
gradient depth scale is ξ = 1/log λ: ‖∂L/∂x^l‖² ∝ λ^{L−l} = e^{(L−l)/ξ}.

**Two batches.** Separately normalised batches with pre-activation cross-covariance C: to first
order in GCG the joint density of (Gh, Gh') is p p' (1 + vᵀΣ⁺CΣ⁺v'), and ‖Gh‖ is independent of
its direction, so the cross kernel obeys

    K_12 ↦ μ² 11ᵀ + λ_x G K_12 G,   λ_x = (E χ_{B−1})² B m₁² / ((B−1)² s),

μ = E φ(u₁), m₁ = E φ(u₁)u₁. Different batches decorrelate to the cross correlation μ²/q* at
rate λ_x per layer (depth scale ξ_x = −1/log λ_x). Linear φ: λ_x = (E χ_{B−1})²/(B−1).

**Approach to K*.** Linearise the map at K*. It sees K only through ĥ = Gh/‖Gh‖, and for
Gh ~ N(0, σ_w² s(G + εE)) (E symmetric, GEG = E) with ‖Gh‖ independent of ĥ,

    dK'/dε = (1/2s) E_u[φ(u)φ(u)ᵀ ((B−1)/B · uᵀEu − tr E)].

Perturbations along I, 11ᵀ or 1vᵀ (among them every permutation-symmetric one) change nothing:
they are gone after one layer. The rest splits under permutations of the batch into two
irreducible parts (Yang et al. 2019, §4), each multiplied per layer by one eigenvalue:

    𝕃 (B − 1 dims, E = G diag(d) G, Σd = 0):  λ_L = B(A − s(B−1)/B) / (2s(B−2)),  A = E[(φ(u₁) − φ̄)² u₁²],
    𝕄 (B(B−3)/2 dims, zero diagonal and row sums):  λ_M = (B−1)(N₂ − 2N₁ + N₀) / (sB),

with φ̄ the batch mean of φ(u) and N₂ = E φ₁φ₂u₁u₂, N₁ = E φ₁φ₂u₁u₃, N₀ = E φ₁φ₂u₃u₄. The constraints
Σu = 0, ‖u‖² = B and exchangeability reduce every one of these to the two-dimensional (u₁, u₂)
integrals above: e.g. E[u₃ | u₁, u₂] = −(u₁ + u₂)/(B−2). K^l → K* like max(|λ_L|, |λ_M|)^l, depth
scale ξ_f = −1/log max(|λ_L|, |λ_M|); an eigenvalue above 1 would mean the symmetric fixed point is
unstable (the paper's symmetry breaking). Linear φ: λ_L = λ_M = (B−1)/(B+1) exactly.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import gammaln

from sigprop import _config  # noqa: F401  (float64)
from sigprop.errors import InvalidParameterError
from sigprop.nonlinearities import Nonlinearity, nonlinearity
from sigprop.quadrature import gauss_legendre

MIN_BATCH = 4
"""Smallest batch: E[1/χ²_{B−1}] (the gradient) is finite only for B ≥ 4."""
MAX_BATCH = 1 << 16
OUTER_NODES = 24
"""Gauss–Legendre nodes per (graded) panel in u₁."""
INNER_NODES = 12
"""Gauss–Legendre nodes per panel in u₂ given u₁."""
PANELS = 8
"""Fixed panels, equal in u, over the support or over |u| ≤ 10 standard units where that is smaller
(the law of u₁ is within O(1/B) of N(0, 1); its mass beyond 10 is ≈ 1e-23)."""
TRUNCATION = 10.0


@dataclass(frozen=True)
class BatchNormResult:
    """Mean-field quantities of a BN network at one (φ, B); see the module docstring.

    Attributes:
      lambda_: per-layer growth of the squared gradient norm.
      xi: gradient depth scale 1/log λ (``inf`` when λ = 1, negative when gradients vanish).
      q_star, c_star: the symmetric fixed point of the post-activation batch kernel.
      mean: μ = E φ(u₁); cross_correlation: μ²/q*, the fixed point between different batches.
      lambda_cross, xi_cross: rate (per layer) and depth scale −1/log λ_x of cross-batch decorrelation.
      lambda_l, lambda_m: eigenvalues of the forward map at K* on its two non-trivial parts 𝕃 and 𝕄.
      xi_forward: depth scale −1/log max(|λ_L|, |λ_M|) of the approach K^l → K*.
    """

    phi: str
    batch_size: int
    lambda_: float
    xi: float
    q_star: float
    c_star: float
    mean: float
    cross_correlation: float
    lambda_cross: float
    xi_cross: float
    lambda_l: float
    lambda_m: float
    xi_forward: float


def check_batch_sizes(batch_sizes) -> np.ndarray:
    """Batch sizes as an int array, each an integer in [4, 65536], else :class:`InvalidParameterError`."""
    arr = np.atleast_1d(np.asarray(batch_sizes))
    if arr.size == 0 or arr.dtype.kind not in "iuf" or arr.dtype == bool:
        raise InvalidParameterError(f"batch size must be an integer ≥ {MIN_BATCH}, got {batch_sizes!r}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise InvalidParameterError(f"batch size must be an integer ≥ {MIN_BATCH}, got {batch_sizes!r}")
    if np.any(arr < MIN_BATCH) or np.any(arr > MAX_BATCH):
        raise InvalidParameterError(
            f"batch size must be an integer in [{MIN_BATCH}, {MAX_BATCH}] (the gradient needs "
            f"E[1/χ²_(B−1)] = 1/(B−3), finite only for B ≥ 4), got {batch_sizes!r}"
        )
    return arr.astype(np.int64)


def _theta_rule(scale, center, radius, dof, kinks, nodes, graded):
    """Nodes and normalised weights for E f(X), X = center + radius·sin θ, θ ∝ cos^dof θ on [−π/2, π/2].

    ``scale`` (the standard deviation of sin θ, ≈ 1/√(dof+1)) places the fixed panel edges; kinks
    of f are panel edges too. All arguments broadcast to the batch shape (*M); nodes on axis 0.
    """
    shape = jnp.broadcast_shapes(*(jnp.shape(a) for a in (scale, center, radius, dof)))
    safe_r = jnp.where(radius > 0, radius, 1.0)
    edges = [jnp.full((2, *shape), 0.5 * math.pi) * jnp.array([-1.0, 1.0]).reshape(2, *[1] * len(shape))]
    span = jnp.minimum(TRUNCATION * scale, 1.0)  # fixed edges cover the support, or |z| ≤ 10 of it
    edges.append(jnp.arcsin(jnp.asarray(np.linspace(-1.0, 1.0, PANELS + 1)).reshape(-1, *[1] * len(shape)) * span))
    for k in kinks:
        edges.append(jnp.arcsin(jnp.clip((k - center) / safe_r, -1.0, 1.0))[None] * jnp.ones(shape))
    breaks = jnp.sort(jnp.concatenate([jnp.broadcast_to(e, (e.shape[0], *shape)) for e in edges]), 0)
    t, wt = gauss_legendre(nodes)
    if graded:  # s = (3t − t³)/2: an integrand ~ δ^{k+1/2} at a panel end becomes polynomial
        t, wt = (3 * t - t**3) / 2, wt * 1.5 * (1 - t * t)
    t, wt = jnp.asarray(t), jnp.asarray(wt)
    extra = (1,) * len(shape)
    lo, hi = breaks[:-1, None], breaks[1:, None]
    theta = ((lo + hi) / 2 + (hi - lo) / 2 * t.reshape(1, -1, *extra)).reshape(-1, *shape)
    w = ((hi - lo) / 2 * wt.reshape(1, -1, *extra)).reshape(-1, *shape)
    cos = jnp.cos(theta)
    w = w * jnp.where(dof == 0, 1.0, jnp.exp(dof * jnp.log(jnp.maximum(cos, 1e-300))))
    w = jnp.where(cos > 0, w, 0.0)
    return center + radius * jnp.sin(theta), w / jnp.sum(w, axis=0)


def _outer_breaks(kinks, b):
    """Kinks of φ(u₁), plus the u₁ where a kink k of φ(u₂) reaches an end of u₂'s support
    (k + u₁/(B−1))² = B(B−2)/(B−1)·(1 − u₁²/(B−1)): there the inner integral is not smooth in u₁."""
    a, c0 = 1.0 / (b - 1.0), b * (b - 2.0) / (b - 1.0)
    out = list(kinks)
    for k in kinks:
        qa, qb, qc = a * a + c0 * a, 2.0 * a * k, k * k - c0
        disc = qb * qb - 4.0 * qa * qc
        root = jnp.sqrt(jnp.maximum(disc, 0.0))
        out += [jnp.where(disc >= 0, (-qb + sgn * root) / (2.0 * qa), 1e9) for sgn in (-1.0, 1.0)]
    return out


def _value_and_slope(phi: Nonlinearity, x):
    return jax.jvp(phi.fn, (x,), (jnp.ones_like(x),))


GRADIENT_MOMENTS = ("mean", "q", "m1", "a1", "a3", "p", "a2", "a4")
"""What λ, q*, c* and λ_x need; the forward eigenvalues also need q2, pxx, pxy, rxx."""


@functools.lru_cache(maxsize=64)
def _compiled(phi: Nonlinearity, forward: bool = True):
    @jax.jit
    def moments(b):
        """The sphere expectations for batch sizes b (float array (M,))."""
        u1, w1 = _theta_rule(
            1.0 / jnp.sqrt(b - 1.0), 0.0, jnp.sqrt(b - 1.0), b - 3.0, _outer_breaks(phi.kinks, b), OUTER_NODES, True
        )
        f1, d1 = _value_and_slope(phi, u1)

        def e1(v):
            return jnp.sum(jnp.where(w1 == 0, 0.0, w1 * v), axis=0)

        radius = jnp.sqrt(jnp.maximum(b * (1.0 - u1**2 / (b - 1.0)), 0.0) * (b - 2.0) / (b - 1.0))
        u2, w2 = _theta_rule(
            1.0 / jnp.sqrt(b - 2.0), -u1 / (b - 1.0), radius, b - 4.0, phi.kinks, INNER_NODES, False
        )  # (n, n, M)
        f2, d2 = _value_and_slope(phi, u2)

        def e2(v1, v2):
            inner = jnp.sum(jnp.where(w2 == 0, 0.0, w2 * v2), axis=0)
            return e1(v1 * inner)

        gradient = {
            "mean": e1(f1),
            "q": e1(f1 * f1),
            "m1": e1(f1 * u1),
            "a1": e1(d1 * d1),
            "a3": e1(d1 * d1 * u1 * u1),
            "p": e2(f1, f2),
            "a2": e2(d1, d2),
            "a4": e2(d1 * u1, d2 * u2),
        }
        if not forward:
            return gradient
        return gradient | {
            "q2": e1(f1 * f1 * u1 * u1),
            "pxx": e2(f1 * u1 * u1, f2),
            "pxy": e2(f1 * u1, f2 * u2),
            "rxx": e2(u1 * u1, f2 * f2),
        }

    return moments


def sphere_moments(phi, batch_sizes) -> dict[str, np.ndarray]:
    """Expectations over u uniform on {Σu = 0, ‖u‖² = B} (arrays over ``batch_sizes``).

    Keys: mean E φ(u₁), q E φ(u₁)², m1 E φ(u₁)u₁, a1 E φ'(u₁)², a3 E φ'(u₁)²u₁², p E φ(u₁)φ(u₂),
    a2 E φ'(u₁)φ'(u₂), a4 E φ'(u₁)φ'(u₂)u₁u₂, q2 E φ(u₁)²u₁², pxx E φ(u₁)φ(u₂)u₁², pxy E φ(u₁)φ(u₂)u₁u₂,
    rxx E φ(u₂)²u₁².
    """
    phi = nonlinearity(phi)
    b = check_batch_sizes(batch_sizes).astype(np.float64)
    return {k: np.asarray(v) for k, v in _compiled(phi)(jnp.asarray(b)).items()}


def forward_eigenvalues(m: dict[str, np.ndarray], b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(λ_L, λ_M), the per-layer factors by which the 𝕃 and 𝕄 parts of K^l − K* shrink (module docstring)."""
    s = m["q"] - m["p"]
    q2, pxx, pxy, rxx, p = m["q2"], m["pxx"], m["pxy"], m["rxx"], m["p"]
    cross = (b * p - 2 * pxx) / (b - 2)  # E φ₂φ₃u₁²
    a = (
        q2
        - 2 * (q2 + (b - 1) * pxx) / b
        + (q2 + 2 * (b - 1) * pxx + (b - 1) * rxx + (b - 1) * (b - 2) * cross) / b**2
    )
    lam_l = b * (a - s * (b - 1) / b) / (2 * s * (b - 2))
    n1 = -(pxx + pxy) / (b - 2)
    n0 = (4 * pxx + 2 * pxy - b * p) / ((b - 2) * (b - 3))
    lam_m = (b - 1) * (pxy - 2 * n1 + n0) / (s * b)
    return lam_l, lam_m


def _gradient_growth(m: dict[str, np.ndarray], b: np.ndarray) -> np.ndarray:
    """λ(φ, B), the top eigenvalue of the backward map (module docstring)."""
    s = m["q"] - m["p"]  # G-part of K*: q*(1 − c*)
    bracket = (b - 2) * m["a1"] + (m["a1"] + (b - 1) * m["a2"]) / b - m["a3"] + (m["a3"] + (b - 1) * m["a4"]) / b
    return b * bracket / (s * (b - 1) * (b - 3))


def _derived(m: dict[str, np.ndarray], b: np.ndarray) -> dict[str, np.ndarray]:
    s = m["q"] - m["p"]
    lam = _gradient_growth(m, b)
    mean_chi2 = np.exp(2 * (0.5 * math.log(2.0) + gammaln(b / 2) - gammaln((b - 1) / 2)))  # (E χ_{B−1})²
    lam_x = mean_chi2 * b * m["m1"] ** 2 / ((b - 1) ** 2 * s)
    lam_l, lam_m = forward_eigenvalues(m, b)
    with np.errstate(divide="ignore"):
        xi = 1.0 / np.log(lam)
        xi_x = -1.0 / np.log(lam_x)
        xi_f = -1.0 / np.log(np.maximum(np.abs(lam_l), np.abs(lam_m)))
    return {
        "lambda_": lam,
        "xi": xi,
        "q_star": m["q"],
        "c_star": m["p"] / m["q"],
        "mean": m["mean"],
        "cross_correlation": m["mean"] ** 2 / m["q"],
        "lambda_cross": lam_x,
        "xi_cross": xi_x,
        "lambda_l": lam_l,
        "lambda_m": lam_m,
        "xi_forward": xi_f,
    }


def batchnorm_quantities(phi, batch_sizes) -> dict[str, np.ndarray]:
    """All fields of :class:`BatchNormResult` as arrays over ``batch_sizes`` (one compiled call)."""
    b = check_batch_sizes(batch_sizes).astype(np.float64)
    return _derived(sphere_moments(phi, b), b)


def batchnorm_lambda(phi, batch_sizes) -> np.ndarray:
    """Gradient growth λ(φ, B) per layer for each batch size (vectorised; see the module docstring).

    >>> float(batchnorm_lambda("linear", [8])[0])  # (B−2)/(B−3)
    1.2
    """
    b = check_batch_sizes(batch_sizes).astype(np.float64)
    m = {k: np.asarray(v) for k, v in _compiled(nonlinearity(phi), forward=False)(jnp.asarray(b)).items()}
    return _gradient_growth(m, b)


def batchnorm_point(phi, batch_size: int) -> BatchNormResult:
    """The BN mean-field quantities at one (φ, B); B ≥ 4 (see the module docstring for formulas).

    >>> r = batchnorm_point("relu", 8)
    >>> round(r.lambda_, 4) > 1
    True
    """
    phi = nonlinearity(phi)
    b = int(check_batch_sizes(batch_size)[0])
    if np.ndim(batch_size) != 0:
        raise InvalidParameterError(f"batch size must be one integer, got {batch_size!r}")
    d = batchnorm_quantities(phi, [b])
    return BatchNormResult(phi.name, b, **{k: float(v[0]) for k, v in d.items()})
