"""Closed-form Gaussian expectations for erf and ReLU: cross-checks for the quadrature.

* erf, the arcsine kernel (Williams 1997): for u₁, u₂ with variances qa, qb and covariance
  Σ₁₂ = c√(qa qb),
  E[erf(u₁)erf(u₂)] = (2/π) arcsin(2Σ₁₂ / √((1+2qa)(1+2qb))),
  E[erf'(u₁)erf'(u₂)] = (4/π) / √((1+2qa)(1+2qb) − 4Σ₁₂²).
* ReLU, the arc-cosine kernel of degree 1 and 0 (Cho & Saul 2009), with θ = arccos c:
  E[relu(u₁)relu(u₂)] = √(qa qb)/(2π) (sin θ + (π − θ) cos θ),
  E[relu'(u₁)relu'(u₂)] = (π − θ)/(2π).

Plain NumPy: nothing here shares code with :mod:`sigprop.expectations`.
"""

from __future__ import annotations

import numpy as np


def erf_kernel(qa, qb, c):
    """(K, Kc) for φ = erf."""
    qa, qb, c = (np.asarray(x, dtype=np.float64) for x in (qa, qb, c))
    s12 = c * np.sqrt(qa * qb)
    d = (1 + 2 * qa) * (1 + 2 * qb)
    return 2 / np.pi * np.arcsin(2 * s12 / np.sqrt(d)), 4 / np.pi / np.sqrt(d - 4 * s12**2)


def relu_kernel(qa, qb, c):
    """(K, Kc) for φ = ReLU."""
    qa, qb, c = (np.asarray(x, dtype=np.float64) for x in (qa, qb, c))
    theta = np.arccos(np.clip(c, -1.0, 1.0))
    K = np.sqrt(qa * qb) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
    return K, (np.pi - theta) / (2 * np.pi)
