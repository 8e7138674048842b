"""PyTorch initialiser: the ``nn.Linear`` layers of a module at (σ_w², σ_b²).

Importing this module imports PyTorch (``pip install 'sigprop[torch]'``); nothing else in sigprop
does. The distributions are those of :mod:`sigprop.init`:

* ``"gaussian"``: W ~ N(0, σ_w²/fan_in) (``nn.init.normal_``), the network of Poole et al. 2016
  and Schoenholz et al. 2017;
* ``"orthogonal"``: W = g·O, O Haar (semi-)orthogonal (``nn.init.orthogonal_``) with
  g² = σ_w² max(1, fan_out/fan_in) (:func:`sigprop.init.orthogonal_gain`), the ensemble of
  Pennington, Schoenholz & Ganguli 2017 that can reach dynamical isometry;

and b ~ N(0, σ_b²) (zeros when σ_b² = 0). PyTorch stores ``weight`` as (fan_out, fan_in).
"""

from __future__ import annotations

import math

from sigprop.errors import InvalidParameterError
from sigprop.init import check_init_args, orthogonal_gain

try:
    import torch
    from torch import nn
except ImportError as err:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "sigprop.init.torch_ needs PyTorch, which is not installed: pip install 'sigprop[torch]'"
    ) from err


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``module`` (itself included), in ``module.modules()`` order."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def init_linear_(
    module: nn.Module,
    sigma_w2: float,
    sigma_b2: float,
    weights: str = "gaussian",
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Re-initialise, in place, every ``nn.Linear`` in ``module``; other layers are untouched.

    Args:
      module: any ``nn.Module`` (an ``nn.Linear`` itself is fine).
      sigma_w2: weight variance σ_w² > 0: W_ij ~ N(0, σ_w²/fan_in), or W = g·O (orthogonal).
      sigma_b2: bias variance σ_b² ≥ 0: b_i ~ N(0, σ_b²).
      weights: ``"gaussian"`` or ``"orthogonal"``.
      generator: a ``torch.Generator`` for reproducible draws (``None``: the global RNG).

    Returns:
      ``module`` (for chaining).

    Raises:
      InvalidParameterError: bad σ_w², σ_b² or ensemble, no ``nn.Linear`` in ``module``, or a
        lazy layer whose shape is not known yet (run one forward pass first).

    >>> layer = init_linear_(nn.Linear(4, 3), 2.0, 0.0, weights="orthogonal")
    >>> torch.allclose(layer.weight @ layer.weight.T, 2.0 * torch.eye(3), atol=1e-6)
    True
    """
    sw2, sb2, kind = check_init_args(sigma_w2, sigma_b2, weights)
    layers = linear_layers(module)
    if not layers:
        raise InvalidParameterError(f"no nn.Linear layer in {type(module).__name__}")
    for layer in layers:
        if isinstance(layer.weight, nn.parameter.UninitializedParameter):
            raise InvalidParameterError("a lazy nn.Linear has no shape yet: run one forward pass before init_linear_")
    with torch.no_grad():
        for layer in layers:
            fan_out, fan_in = layer.weight.shape
            if kind == "orthogonal":
                nn.init.orthogonal_(layer.weight, gain=orthogonal_gain(sw2, fan_in, fan_out), generator=generator)
            else:
                nn.init.normal_(layer.weight, std=math.sqrt(sw2 / fan_in), generator=generator)
            if layer.bias is not None:
                nn.init.normal_(layer.bias, std=math.sqrt(sb2), generator=generator)
    return module


__all__ = ["init_linear_", "linear_layers"]
