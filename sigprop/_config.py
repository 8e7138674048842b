"""Package-wide numerical configuration.

* float64 everywhere (``jax_enable_x64``).
* One XLA CPU device per core (up to 8), so that phase diagrams can run their tiles in parallel
  (:mod:`sigprop.phase_diagram`). This only takes effect if JAX has not started its backend
  yet and the user has not chosen a device count in ``XLA_FLAGS``; set
  ``SIGPROP_CPU_DEVICES=1`` to opt out. Single computations still run on device 0.
"""

import os

_FLAG = "--xla_force_host_platform_device_count"
_wanted = os.environ.get("SIGPROP_CPU_DEVICES", str(min(os.cpu_count() or 1, 8)))
if _FLAG not in os.environ.get("XLA_FLAGS", "") and _wanted.isdigit() and int(_wanted) > 1:
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}={int(_wanted)}".strip()

import jax  # noqa: E402  (after XLA_FLAGS)

jax.config.update("jax_enable_x64", True)


def devices() -> list:
    """The devices that grids, tables, seeds and cells are split over: every XLA CPU device on the
    CPU backend (one per core, above), else the first accelerator."""
    return jax.devices("cpu") if jax.default_backend() == "cpu" else jax.devices()[:1]
