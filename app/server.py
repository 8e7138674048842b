"""Serving the dashboard: ``sigprop serve [--port P] [--show] [--num-procs K]``.

Panel's real (Bokeh/Tornado) server runs the page, one :class:`app.dashboard.Explorer` per browser
session. Everything that does not depend on the σ sliders (compiled kernels, phase diagrams,
critical lines) is cached per process, so a room of students shares it. Compiled XLA code is
also kept on disk (``SIGPROP_CACHE_DIR``, default ``~/.cache/sigprop``) so that a restarted
server starts warm.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import holoviews as hv
import jax
import panel as pn

log = logging.getLogger("sigprop.app")

DEFAULT_PORT = 5006


def cache_dir() -> Path:
    return Path(os.environ.get("SIGPROP_CACHE_DIR", Path.home() / ".cache" / "sigprop"))


def configure() -> None:
    """Panel/HoloViews set-up and JAX's persistent compilation cache (idempotent)."""
    pn.extension(sizing_mode="fixed", notifications=False, throttled=True)
    hv.extension("bokeh", logo=False)
    path = cache_dir() / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    except OSError as err:  # a read-only home: run without the disk cache
        log.warning("no compilation cache (%s)", err)


def warm_up(phis=("tanh",)) -> float:
    """Compile and cache what the default page needs (and the phase diagrams of ``phis``)."""
    from app import compute

    t0 = time.perf_counter()
    s = compute.Settings()
    for phi in phis:
        si = s.replace(phi=phi)
        compute.prebuild_tables(phi)
        compute.phase(phi, 1.0)
        compute.phase(phi, 0.9)  # the dropout preset
        compute.critical_curve(phi, 1.0)
        ro = compute.readout(si)
        compute.iterated_maps(si, ro["q_star"], compute.trajectory(si))
        compute.function_space(si)
    return time.perf_counter() - t0


def _warm_rest_in_background() -> None:
    """After the first page can be served, compile the other registry nonlinearities' views."""
    from sigprop.nonlinearities import NAMES, nonlinearity

    def run():
        t0 = time.perf_counter()
        for phi in sorted(NAMES, key=lambda n: not nonlinearity(n).is_smooth):  # cheap smooth φ first
            try:
                warm_up((phi,))
            except Exception as err:
                log.warning("warm-up of %s failed: %s", phi, err)
        print(f"sigprop: warm-up complete ({len(NAMES)} nonlinearities, {time.perf_counter() - t0:.0f} s)", flush=True)

    threading.Thread(target=run, name="sigprop-warmup", daemon=True).start()


def serve(port: int = DEFAULT_PORT, show: bool = False, num_procs: int = 1, address: str = "localhost",
          warm: bool = True) -> None:
    """Start the server (blocks). ``num_procs`` > 1 forks worker processes sharing the port."""
    from app.dashboard import create_app

    configure()
    if warm and num_procs == 1:
        warm_up()
        _warm_rest_in_background()
    # with several processes, JAX must not start its threads before Tornado forks the workers:
    # each worker compiles on its first page (from the disk cache when there is one)
    print(f"sigprop dashboard: http://{address}:{port}/", flush=True)
    pn.serve({"/": create_app}, port=port, address=address, show=show, num_procs=num_procs, title="sigprop",
             websocket_origin=[f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"], threaded=False)
