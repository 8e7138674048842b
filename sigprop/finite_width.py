"""Exact finite-width statistics of deep ReLU networks, and their estimates from simulations.

At He initialisation (σ_w² = 2, σ_b² = 0, no dropout) a ReLU network with one input is exactly
solvable at any width (Hanin & Nica 2020; the Les Houches lectures of Bahri, Hanin et al. on
deep learning at large and infinite width: log-normal norms with β ≈ 5L/n).
Given layer l − 1, the pre-activations of layer l are i.i.d. N(0, s_l²) over its n_l units, with
s_l² = σ_w² ‖y^{l−1}‖²/n_{l−1}; write z^l = s_l g with g ~ N(0, I), independent of the past. Then

    ‖y^l‖² = ‖relu(z^l)‖² = s_l² χ²_{B_l},   B_l ~ Binomial(n_l, ½)  (the units with g_i > 0),
    ‖z^L‖² = s_L² χ²_{n_L},                  s_{l+1}² = (σ_w²/n_l) s_l² χ²_{B_l},

with all χ² and B independent (χ²₀ = 0). Hence, for widths n_1 … n_L (hidden layers, then the
output) and s_1² = q¹ = σ_w² ‖φ(x)‖²/n₀ fixed by the input,

    log ‖z^L‖² = log q¹ + Σ_{l<L} [log(σ_w²/n_l) + log χ²_{B_l}] + log χ²_{n_L},

a sum of independent terms, with E log χ²_k = ψ(k/2) + log 2 and Var log χ²_k = ψ'(k/2)
(mixed over the binomial for the rectified layers). For large n each hidden layer adds
Var log χ²_B ≈ 1/n (from B) + 4/n (from χ²) = 5/n and the linear output 2/n: the log-normal
law with variance ≈ 5 Σ 1/n_l.

B_l = 0 (probability 2^{−n_l}) kills the network: every later layer is exactly 0 and
log ‖z^L‖² = −∞. The log-moments are therefore given conditionally on B_l ≥ 1 for every hidden
layer (the binomial truncated at 1 and renormalised), and the probability of the excluded event,
p_dead = 1 − Π_{l<L} (1 − 2^{−n_l}), is returned beside them (2e-9 at n = 32, L = 8).

The normalised fourth cumulant of an output unit follows from E[(χ²_B)²] = E[B² + 2B] =
n(n + 5)/4 and E[χ²_B] = n/2, i.e. E[s⁴]/E[s²]² = 1 + 5/n per rectified layer, and from the output
unit being Gaussian given s_L (E z⁴ = 3 E s⁴); these moments include dead networks (χ²₀ = 0), no
conditioning needed:

    κ₄^L = E[z⁴]/E[z²]² − 3 = 3 [Π_{l<L} (1 + 5/n_l) − 1]  ≈ 15 Σ_{l<L} 1/n_l.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from sigprop.errors import InvalidParameterError
from sigprop.simulation import SimulationResult

MAX_WIDTH = 2**24
BINOMIAL_WINDOW = 40.0
"""Standard deviations of B kept in the binomial mixture; the mass outside is < e^{-800}."""


@dataclass(frozen=True)
class LogNormMoments:
    """Exact mean and variance of log ‖z^L‖² for a ReLU network at σ_b² = 0, ρ = 1.

    Attributes:
      widths: n_1 … n_L (the last is the output layer).
      mean: E[log ‖z^L‖²].
      variance: Var[log ‖z^L‖²].
      variance_leading: 5 Σ_{l<L} 1/n_l + 2/n_L, the large-n limit of ``variance`` (hidden
        layers are rectified, the output layer is not).
      variance_hanin_nica: 5 Σ_{l≤L} 1/n_l, the usual headline form (the output counted like a hidden
        layer; it exceeds ``variance_leading`` by 3/n_L).
      p_dead: probability 1 − Π_{l<L} (1 − 2^{−n_l}) that some hidden layer has no active unit,
        so that ‖z^L‖² = 0 and the log is −∞. ``mean`` and ``variance`` are conditional on this
        not happening (B_l ≥ 1 for every l < L).
    """

    widths: tuple[int, ...]
    mean: float
    variance: float
    variance_leading: float
    variance_hanin_nica: float
    p_dead: float


@dataclass(frozen=True)
class Estimate:
    """A statistic estimated from simulations: ``value`` and its standard error ``se`` (arrays)."""

    value: np.ndarray
    se: np.ndarray


def _widths(widths) -> tuple[int, ...]:
    try:
        values = tuple(widths)
    except TypeError:
        raise InvalidParameterError("widths must be a sequence of positive integers") from None
    ok = all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and 1 <= n <= MAX_WIDTH for n in values)
    if not values or not ok:
        raise InvalidParameterError(f"widths must be a non-empty sequence of integers in [1, {MAX_WIDTH}]")
    return tuple(int(n) for n in values)


def log_chi2_moments(k) -> tuple[np.ndarray, np.ndarray]:
    """E and Var of log χ²_k: ψ(k/2) + log 2 and ψ'(k/2) (k > 0, arrays allowed)."""
    half = np.asarray(k, dtype=np.float64) / 2.0
    return special.digamma(half) + math.log(2.0), special.polygamma(1, half)


def rectified_log_norm_moments(n: int) -> tuple[float, float]:
    """E and Var of log χ²_B, B ~ Binomial(n, ½) conditioned on B ≥ 1 (log ‖relu(g)‖², g ~ N(0, I_n)).

    The mixture is summed exactly over b within ``BINOMIAL_WINDOW`` standard deviations of n/2:
    E = Σ p_b e_b and Var = Σ p_b [v_b + (e_b − E)²], with (e_b, v_b) from :func:`log_chi2_moments`.
    """
    spread = BINOMIAL_WINDOW * math.sqrt(n) / 2.0
    b = np.arange(max(1, math.floor(n / 2 - spread)), min(n, math.ceil(n / 2 + spread)) + 1)
    p = stats.binom.pmf(b, n, 0.5)
    p /= p.sum()
    e, v = log_chi2_moments(b)
    mean = float(np.sum(p * e))
    return mean, float(np.sum(p * (v + (e - mean) ** 2)))


def relu_log_norm_moments(widths, *, q1: float = 1.0, sigma_w2: float = 2.0) -> LogNormMoments:
    """Exact mean and variance of log ‖z^L‖² for a ReLU network with σ_b² = 0 (He: σ_w² = 2).

    Args:
      widths: n_1 … n_L, the widths of the hidden layers and then of the output layer.
      q1: the variance per unit of the first layer's pre-activations given the input,
        q¹ = σ_w² ‖relu(x)‖²/n₀ (only the mean depends on it).
      sigma_w2: σ_w² (only the mean depends on it).

    Returns:
      :class:`LogNormMoments`, conditional on no hidden layer being dead (see ``p_dead``).

    >>> m = relu_log_norm_moments([1000] * 10)
    >>> round(m.variance / m.variance_leading, 3)
    1.004
    """
    n = _widths(widths)
    if not (math.isfinite(q1) and q1 > 0 and math.isfinite(sigma_w2) and sigma_w2 > 0):
        raise InvalidParameterError("q1 and sigma_w2 must be positive finite numbers")
    hidden, out = n[:-1], n[-1]
    per_width = {w: rectified_log_norm_moments(w) for w in set(hidden)}
    e_out, v_out = log_chi2_moments(out)
    mean = math.log(q1) + sum(math.log(sigma_w2 / w) + per_width[w][0] for w in hidden) + float(e_out)
    variance = sum(per_width[w][1] for w in hidden) + float(v_out)
    inverse = sum(1.0 / w for w in hidden)
    return LogNormMoments(
        widths=n,
        mean=mean,
        variance=variance,
        variance_leading=5.0 * inverse + 2.0 / out,
        variance_hanin_nica=5.0 * (inverse + 1.0 / out),
        p_dead=-math.expm1(sum(math.log1p(-(2.0**-w)) for w in hidden)),
    )


def relu_fourth_cumulant(widths) -> np.ndarray:
    """Exact κ₄^l = E[z⁴]/E[z²]² − 3 of a unit of layer l = 1 … L (ReLU, σ_b² = 0, ρ = 1, fixed input).

    κ₄^l = 3 [Π_{k<l} (1 + 5/n_k) − 1]: 0 at the first layer (Gaussian given the input), then
    growing like 15 Σ 1/n_k. It does not depend on σ_w² or the input. Dead layers are included.

    >>> [round(float(k), 6) for k in relu_fourth_cumulant([10, 10, 10])]
    [0.0, 1.5, 3.75]
    """
    n = np.asarray(_widths(widths), dtype=np.float64)
    ratio = np.concatenate([[1.0], np.cumprod(1.0 + 5.0 / n[:-1])])
    return 3.0 * (ratio - 1.0)


def fourth_cumulant(result: SimulationResult) -> Estimate:
    """κ₄ = E[z⁴]/E[z²]² − 3 of a unit, per layer and input, estimated over seeds.

    Units of one network are exchangeable, so E[z_i⁴] = E[(1/N) Σ_i z_i⁴]: the per-seed unit
    averages (``fourth_moment`` and ``q``) estimate the same moments as a single output unit does,
    with less noise. The standard error is the jackknife over seeds (the ratio is non-linear).

    Returns:
      :class:`Estimate` with arrays of shape (depth + 1, m).
    """
    m4, m2 = result.fourth_moment, result.q
    s = m4.shape[0]
    if s < 2:
        raise InvalidParameterError("the fourth cumulant's standard error needs at least 2 seeds")
    a, b = m4.mean(axis=0), m2.mean(axis=0)
    value = a / b**2 - 3.0
    leave_one_out = ((s * a - m4) / (s - 1)) / ((s * b - m2) / (s - 1)) ** 2 - 3.0
    se = np.sqrt((s - 1) * np.var(leave_one_out, axis=0))
    return Estimate(value=value, se=se)


def log_norm_statistics(result: SimulationResult) -> tuple[Estimate, Estimate]:
    """Sample mean and variance of log ‖z^l‖² = log(N_l q^l) over seeds, with standard errors.

    se(mean) = sd/√S and se(variance) = √((m₄ − s⁴)/S) (m₄ the central fourth moment), valid
    for any distribution with finite moments. Non-finite samples (a dead ReLU network has
    ‖z‖² = 0) are left out.

    Returns:
      (mean, variance) as :class:`Estimate` with arrays of shape (depth + 1, m).
    """
    with np.errstate(divide="ignore"):
        x = np.log(result.q * result.widths[None, :, None])
    x = np.where(np.isfinite(x), x, np.nan)
    count = np.sum(np.isfinite(x), axis=0)
    if np.any(count < 2):
        raise InvalidParameterError("log-norm statistics need at least 2 seeds with finite norms")
    mean = np.nanmean(x, axis=0)
    centred = x - mean
    var = np.nansum(centred**2, axis=0) / (count - 1)
    m4 = np.nanmean(centred**4, axis=0)
    return (
        Estimate(value=mean, se=np.sqrt(var / count)),
        Estimate(value=var, se=np.sqrt(np.maximum(m4 - var**2, 0.0) / count)),
    )
