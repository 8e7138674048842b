"""JAX initialisers at (σ_w², σ_b²), in the ``jax.nn.initializers`` style, and an Equinox helper.

The distributions are those of :mod:`sigprop.init` (W ~ N(0, σ_w²/fan_in), or W = g·O with O Haar
(semi-)orthogonal and g² = σ_w² max(1, fan_out/fan_in); b ~ N(0, σ_b²)). They are built from
``jax.nn.initializers`` themselves, so what you get is exactly the plain-JAX equivalent:

* Gaussian: ``variance_scaling(σ_w², "fan_in", "normal", in_axis, out_axis)``;
* orthogonal: ``orthogonal(g, column_axis=out_axis)`` (2-D shapes only);
* bias: ``normal(√σ_b²)`` (``zeros`` when σ_b² = 0).

Axes: Flax/Haiku ``Dense`` kernels are (fan_in, fan_out), the default (``in_axis=-2``,
``out_axis=-1``); Equinox and PyTorch store (fan_out, fan_in) (``in_axis=-1``, ``out_axis=-2``).
Equinox is imported only by :func:`init_linear` (``pip install 'sigprop[equinox]'``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax

from sigprop.errors import InvalidParameterError
from sigprop.init import check_init_args, orthogonal_gain

Initializer = Callable[..., jax.Array]
"""``init(key, shape, dtype=...) -> array``, as in ``jax.nn.initializers``."""


def weight_init(sigma_w2: float, weights: str = "gaussian", *, in_axis: int = -2, out_axis: int = -1) -> Initializer:
    """Weight initialiser with per-entry variance σ_w²/fan_in (Gaussian or scaled orthogonal).

    Args:
      sigma_w2: σ_w² > 0.
      weights: ``"gaussian"`` or ``"orthogonal"``.
      in_axis, out_axis: axes of fan_in and fan_out in the weight's shape (defaults: a Dense
        kernel (fan_in, fan_out); use ``in_axis=-1, out_axis=-2`` for (fan_out, fan_in)).

    >>> w = weight_init(2.0, "orthogonal")(jax.random.key(0), (5, 5))
    >>> bool(jax.numpy.allclose(w.T @ w, 2.0 * jax.numpy.eye(5)))
    True
    """
    sw2, _, kind = check_init_args(sigma_w2, 0.0, weights)
    if kind == "gaussian":
        return jax.nn.initializers.variance_scaling(sw2, "fan_in", "normal", in_axis=in_axis, out_axis=out_axis)

    def init(key, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) != 2 or {in_axis % 2, out_axis % 2} != {0, 1}:
            raise InvalidParameterError(f"orthogonal weights need a 2-D shape with distinct axes, got {shape}")
        gain = orthogonal_gain(sw2, shape[in_axis], shape[out_axis])
        kwargs = {} if dtype is None else {"dtype": dtype}
        return jax.nn.initializers.orthogonal(gain, column_axis=out_axis)(key, shape, **kwargs)

    return init


def bias_init(sigma_b2: float) -> Initializer:
    """Bias initialiser b_i ~ N(0, σ_b²) (``jax.nn.initializers.normal(√σ_b²)``)."""
    _, sb2, _ = check_init_args(1.0, sigma_b2, "gaussian")
    return jax.nn.initializers.normal(math.sqrt(sb2)) if sb2 > 0.0 else jax.nn.initializers.zeros


def init_linear(model, sigma_w2: float, sigma_b2: float, *, key: jax.Array, weights: str = "gaussian"):
    """A copy of an Equinox model with every ``eqx.nn.Linear`` re-initialised at (σ_w², σ_b²).

    ``eqx.nn.Linear.weight`` is (fan_out, fan_in). Other leaves are untouched; biases that are
    ``None`` (``use_bias=False``) stay ``None``. Uses ``eqx.tree_at``, so the model is not mutated.

    Args:
      model: an Equinox module (any pytree containing ``eqx.nn.Linear`` layers).
      sigma_w2, sigma_b2: the variances; weights: ``"gaussian"`` or ``"orthogonal"``.
      key: a JAX PRNG key.

    Raises:
      ImportError: Equinox is not installed. InvalidParameterError: bad arguments or no layer.
    """
    try:
        import equinox as eqx
    except ImportError as err:  # pragma: no cover - exercised only without equinox
        raise ImportError("init_linear needs Equinox, which is not installed: pip install 'sigprop[equinox]'") from err
    sw2, sb2, kind = check_init_args(sigma_w2, sigma_b2, weights)

    def is_linear(x) -> bool:
        return isinstance(x, eqx.nn.Linear)

    def linears(tree) -> list:
        return [x for x in jax.tree_util.tree_leaves(tree, is_leaf=is_linear) if is_linear(x)]

    layers = linears(model)
    if not layers:
        raise InvalidParameterError(f"no eqx.nn.Linear layer in {type(model).__name__}")
    w_init = weight_init(sw2, kind, in_axis=-1, out_axis=-2)
    b_init = bias_init(sb2)
    w_keys = jax.random.split(key, 2 * len(layers))
    new_w = [w_init(k, layer.weight.shape, layer.weight.dtype) for k, layer in zip(w_keys[::2], layers, strict=True)]
    model = eqx.tree_at(lambda m: [layer.weight for layer in linears(m)], model, new_w)
    with_bias = [(k, layer) for k, layer in zip(w_keys[1::2], layers, strict=True) if layer.bias is not None]
    if with_bias:
        new_b = [b_init(k, layer.bias.shape, layer.bias.dtype) for k, layer in with_bias]
        model = eqx.tree_at(lambda m: [x.bias for x in linears(m) if x.bias is not None], model, new_b)
    return model


__all__ = ["Initializer", "bias_init", "init_linear", "weight_init"]
