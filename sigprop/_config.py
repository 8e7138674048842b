"""Package-wide numerical configuration: sigprop computes in float64 everywhere."""

import jax

jax.config.update("jax_enable_x64", True)
