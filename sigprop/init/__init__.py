"""Initialisers that give a real network the (σ_w², σ_b²) of the mean-field theory.

The frameworks are optional: each lives in its own submodule and is imported only there, so
``import sigprop`` and ``import sigprop.init`` never import PyTorch, JAX initialisers or Equinox.

* :mod:`sigprop.init.torch_`: ``init_linear_(module, σ_w², σ_b², weights=...)`` for the
  ``nn.Linear`` layers of a PyTorch module (``pip install 'sigprop[torch]'``);
* :mod:`sigprop.init.jax_`: ``weight_init`` / ``bias_init`` in the ``jax.nn.initializers`` style,
  and ``init_linear`` for the ``eqx.nn.Linear`` layers of an Equinox model
  (``pip install 'sigprop[equinox]'`` for the latter).

Both backends draw the same distributions (Poole et al. 2016; Schoenholz et al. 2017; for the
orthogonal ensemble Saxe et al. 2014 and Pennington, Schoenholz & Ganguli 2017):

* ``"gaussian"``: W_ij ~ N(0, σ_w²/fan_in), b_i ~ N(0, σ_b²);
* ``"orthogonal"``: W = g·O with O Haar-distributed and (semi-)orthogonal (O Oᵀ = I when
  fan_out ≤ fan_in, Oᵀ O = I when fan_out > fan_in) and the gain g of :func:`orthogonal_gain`,
  b_i ~ N(0, σ_b²).

The gain makes every entry of W have variance σ_w²/fan_in in both ensembles, and every row of W
squared norm σ_w² on average, so that E[(W y)_i²] = σ_w² ‖y‖²/fan_in: the forward length map
q ↦ σ_w² E[φ(√q z)²] + σ_b² is the same for both. For square layers g = √σ_w². What differs is the
spectrum of the input–output Jacobian (see :mod:`sigprop.recommend`).
"""

from __future__ import annotations

import math

from sigprop.errors import InvalidParameterError
from sigprop.point import validate

WEIGHTS = ("gaussian", "orthogonal")
"""The weight ensembles every backend offers."""


def orthogonal_gain(sigma_w2: float, fan_in: int, fan_out: int) -> float:
    """Gain g of W = g·O for (semi-)orthogonal O with the Gaussian forward map.

    g² = σ_w² · max(1, fan_out/fan_in). With fan_out ≤ fan_in the rows of O are orthonormal and
    have unit norm, so g² = σ_w² gives rows of squared norm σ_w², as Gaussian rows have on average;
    with fan_out > fan_in the columns are orthonormal, the squared Frobenius norm fan_in is shared
    by fan_out rows, and g² = σ_w² fan_out/fan_in restores it. Then ‖W y‖² = σ_w² ‖y‖² fan_out/fan_in
    exactly for expanding layers, and on average for the others.

    >>> orthogonal_gain(2.0, 100, 100) == math.sqrt(2.0)
    True
    >>> orthogonal_gain(1.0, 100, 400)
    2.0
    """
    if fan_in < 1 or fan_out < 1:
        raise InvalidParameterError(f"fan_in and fan_out must be positive, got {fan_in} and {fan_out}")
    return math.sqrt(sigma_w2 * max(1.0, fan_out / fan_in))


def check_init_args(sigma_w2, sigma_b2, weights: str) -> tuple[float, float, str]:
    """σ_w² > 0, σ_b² ≥ 0 (finite, at most :data:`sigprop.point.MAX_VARIANCE`; checked by
    :func:`sigprop.point.validate`, like everywhere else) and the ensemble name; returns them normalised."""
    sw2, sb2, _ = validate(sigma_w2, sigma_b2, 1.0)
    if not isinstance(weights, str) or weights.lower() not in WEIGHTS:
        raise InvalidParameterError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    return sw2, sb2, weights.lower()


__all__ = ["WEIGHTS", "check_init_args", "orthogonal_gain"]
