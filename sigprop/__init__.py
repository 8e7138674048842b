"""sigprop: mean-field signal propagation in deep random neural networks.

A wide random network z^l = W^l φ(z^{l-1}) + b^l, W ~ N(0, σ_w²/N), b ~ N(0, σ_b²), propagates
signals by deterministic maps in the infinite-width limit (Poole et al. 2016; Schoenholz et al.
2017). This package computes those maps, their fixed points q* and c*, the susceptibilities χ₁
and χ_c, the depth scales ξ_q and ξ_c, the critical line and whole phase diagrams.

>>> import sigprop as sp
>>> r = sp.point("tanh", sigma_w2=1.5, sigma_b2=0.05)
>>> r.phase
'ordered'
"""

from sigprop import _config  # noqa: F401  (float64 before anything else)
from sigprop.batchnorm import BatchNormResult, batchnorm_lambda, batchnorm_point
from sigprop.batchnorm_simulation import simulate_batchnorm
from sigprop.critical import CriticalPoint, critical_line, critical_point
from sigprop.errors import (
    InvalidParameterError,
    LengthMapDivergesError,
    NoCriticalPointError,
    ResourceLimitError,
    SigpropError,
    UnknownNonlinearityError,
)
from sigprop.expression import ExpressionError
from sigprop.finite_width import fourth_cumulant, relu_fourth_cumulant, relu_log_norm_moments
from sigprop.gp import gp_posterior, ntk_regression_mean, prior_samples
from sigprop.kernels import Kernels, circle_kernels, kernels, segment_kernels
from sigprop.maps import correlation_map, length_map
from sigprop.nonlinearities import NAMES, Nonlinearity, nonlinearity
from sigprop.phase_diagram import PhaseDiagram, phase_diagram
from sigprop.point import PointResult, point
from sigprop.quadrature import Quadrature
from sigprop.recommend import (
    JacobianSpectrum,
    Recommendation,
    derivative_moments,
    isometric_sigma_b2,
    isometry_limit,
    isometry_table,
    jacobian_spectrum,
    recommend,
    trainable_range,
)
from sigprop.simulation import SimulationResult, simulate
from sigprop.sweep import SweepMismatchError
from sigprop.trainability import Agreement, TrainabilityResult, TrainabilitySpec, agreement

# sigprop.trainability stays the module (run a sweep with sigprop.trainability.trainability(...))
from sigprop.trajectories import Trajectory, trajectories

__version__ = "0.1.0"

__all__ = [
    "NAMES",
    "Agreement",
    "BatchNormResult",
    "CriticalPoint",
    "ExpressionError",
    "InvalidParameterError",
    "JacobianSpectrum",
    "Kernels",
    "LengthMapDivergesError",
    "NoCriticalPointError",
    "Nonlinearity",
    "PhaseDiagram",
    "PointResult",
    "Quadrature",
    "Recommendation",
    "ResourceLimitError",
    "SigpropError",
    "SimulationResult",
    "SweepMismatchError",
    "TrainabilityResult",
    "TrainabilitySpec",
    "Trajectory",
    "UnknownNonlinearityError",
    "agreement",
    "batchnorm_lambda",
    "batchnorm_point",
    "circle_kernels",
    "correlation_map",
    "critical_line",
    "critical_point",
    "derivative_moments",
    "fourth_cumulant",
    "gp_posterior",
    "isometric_sigma_b2",
    "isometry_limit",
    "isometry_table",
    "jacobian_spectrum",
    "kernels",
    "length_map",
    "nonlinearity",
    "ntk_regression_mean",
    "phase_diagram",
    "point",
    "prior_samples",
    "recommend",
    "relu_fourth_cumulant",
    "relu_log_norm_moments",
    "segment_kernels",
    "simulate",
    "simulate_batchnorm",
    "trainable_range",
    "trajectories",
]
