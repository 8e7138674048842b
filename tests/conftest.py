"""Test configuration: float64 everywhere (sigprop switches it on at import)."""

import jax

import sigprop  # noqa: F401  (sets jax_enable_x64)

assert jax.config.jax_enable_x64
