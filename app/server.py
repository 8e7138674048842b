"""Serving the dashboard: ``sigprop serve [--port P] [--show] [--address A] [--allow-host NAME] [--num-procs K]``.

Panel's real (Bokeh/Tornado) server runs the page, one :class:`app.dashboard.Explorer` per browser
session. Everything that does not depend on the σ sliders (compiled kernels, phase diagrams,
critical lines) is cached per process, so a room of students shares it. Compiled XLA code is
also kept on disk (``SIGPROP_CACHE_DIR``, default ``~/.cache/sigprop``) so that a restarted
server starts warm.

Two protections make a served page safe to share:

* **Host check (DNS rebinding).** A hostile web page can point its own name at 127.0.0.1 and then
  load and drive a local dashboard as a same-origin page: the browser sends ``Host: evil.example``,
  and Tornado's same-origin rule accepts its websocket before Bokeh's origin allow-list is asked.
  So every request, page, websocket or static file, is first checked against the host names the
  server was started for (:func:`allowed_hosts`) and refused with 403 otherwise. An IP literal
  cannot be rebound, so on a wildcard address (``--address 0.0.0.0``, for a class) any IP literal is
  accepted; names (the machine's, a proxy's) must be given with ``--allow-host``.
* **A private compilation cache.** The disk cache holds XLA executables that are loaded and run,
  so a cache directory that another user can write to is refused (:func:`check_private_dir`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import stat
import threading
import time
from pathlib import Path

import holoviews as hv
import jax
import panel as pn
from tornado.routing import Matcher, Rule
from tornado.web import RequestHandler

from sigprop.errors import SigpropError

log = logging.getLogger("sigprop.app")

DEFAULT_PORT = 5006
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
"""The host names a server on the default (loopback) address answers to."""
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")
_HOST_HEADER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]{1,5})?")
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*")
"""Addresses that listen on every interface (a class server); there any IP literal is accepted."""


class UnsafeCacheError(SigpropError):
    """The compilation cache directory could be written by another user (its code would be run)."""


class HostNotAllowedError(SigpropError):
    """A ``--allow-host`` name is malformed."""


# ---- host check ---------------------------------------------------------------------------------


def _hostname(host_header: str) -> str | None:
    """The lower-case host name of a ``Host`` header (port and IPv6 brackets removed), or None
    when the header is not ``name[:port]`` or ``[IPv6][:port]``."""
    m = _HOST_HEADER.fullmatch(host_header.strip())
    return m.group(1).lower().strip("[]") if m else None


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_hosts(address: str = "localhost", extra: tuple[str, ...] | list[str] = ()) -> frozenset[str]:
    """The host names a server on ``address`` accepts: loopback names, ``address`` itself, ``extra``.

    >>> sorted(allowed_hosts("localhost", ["class.example.org"]))
    ['127.0.0.1', '::1', 'class.example.org', 'localhost']
    """
    names = set(LOCAL_NAMES)
    if address not in WILDCARD_ADDRESSES:
        names.add(address.lower().strip("[]"))
    for name in extra:
        bare = name.strip().lower().strip("[]")
        if not (_HOST_NAME.fullmatch(bare) or _is_ip_literal(bare)):
            raise HostNotAllowedError(f"--allow-host expects a host name such as class.example.org (no port), "
                                      f"got {name[:60]!r}")
        names.add(bare)
    return frozenset(names)


def host_is_allowed(host_header: str, names: frozenset[str], any_ip: bool) -> bool:
    """Whether a request's ``Host`` header names this server (see the module docstring).

    >>> names = allowed_hosts()
    >>> host_is_allowed("localhost:5006", names, False), host_is_allowed("evil.example:5006", names, False)
    (True, False)
    >>> host_is_allowed("10.0.0.5:5006", names, False), host_is_allowed("10.0.0.5:5006", names, True)
    (False, True)
    """
    name = _hostname(host_header)
    if name is None:
        return False
    return name in names or (any_ip and _is_ip_literal(name))


class _ForeignHost(Matcher):
    """Matches the requests whose ``Host`` is not one of the server's names."""

    def __init__(self, names: frozenset[str], any_ip: bool):
        self.names, self.any_ip = names, any_ip

    def match(self, request):
        return None if host_is_allowed(request.host or "", self.names, self.any_ip) else {}


class _RefuseHost(RequestHandler):
    """403 in plain text for every method: the request named a host this server does not serve."""

    def prepare(self):
        log.warning("refused a request for Host %r (not one of this server's names)", (self.request.host or "")[:100])
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("403: this sigprop server does not answer to that host name. "
                    "To serve a class under a name, start it with: sigprop serve --address 0.0.0.0 --allow-host NAME\n")


def install_host_check(server, names: frozenset[str], any_ip: bool) -> None:
    """Put the host check in front of every route of a (Panel-made) Bokeh server."""
    router = server._tornado.default_router  # Panel itself keys its per-server config on _tornado
    router.rules.insert(0, router.process_rule(Rule(_ForeignHost(names, any_ip), _RefuseHost)))


# ---- the compilation cache ----------------------------------------------------------------------


def cache_dir() -> Path:
    return Path(os.environ.get("SIGPROP_CACHE_DIR", Path.home() / ".cache" / "sigprop"))


def check_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 700) if needed, and refuse it if another user could write into it.

    The directory must belong to this user and be writable by nobody else; each existing parent
    must belong to this user or root and be writable by nobody else, unless it is sticky (``/tmp``),
    where others cannot rename or replace what we own.

    Raises:
      UnsafeCacheError: with the path and how to fix it.
    """
    path = Path(os.path.abspath(path))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    uid = os.getuid()

    def refuse(p: Path, why: str):
        raise UnsafeCacheError(f"the compilation cache {path} is not private: {p} {why}; it holds code that "
                               f"sigprop runs. Fix it (chmod go-w {p}) or set SIGPROP_CACHE_DIR to a private directory")

    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        refuse(path, "is not a plain directory")
    if st.st_uid != uid:
        refuse(path, f"belongs to user {st.st_uid}, not to you ({uid})")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        refuse(path, "can be written by other users")
    for parent in path.parents:
        st = parent.stat()
        if st.st_uid not in (uid, 0):
            refuse(parent, f"belongs to user {st.st_uid}")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            refuse(parent, "can be written by other users")
    return path


def configure() -> None:
    """Panel/HoloViews set-up and JAX's persistent compilation cache (idempotent).

    Raises:
      UnsafeCacheError: the cache directory could be written by another user.
    """
    pn.extension(sizing_mode="fixed", notifications=False, throttled=True)
    hv.extension("bokeh", logo=False)
    try:
        path = check_private_dir(cache_dir() / "jax")
    except OSError as err:  # a read-only home: run without the disk cache
        log.warning("no compilation cache (%s)", err)
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


# ---- warm-up and serving ------------------------------------------------------------------------


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
        try:
            ro = compute.readout(si)
        except SigpropError:  # the default point is outside this φ's domain (linear at σ_w² > 1): nothing to warm
            continue
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
          warm: bool = True, allow_hosts: tuple[str, ...] | list[str] = ()) -> None:
    """Start the server (blocks). ``num_procs`` > 1 forks worker processes sharing the port.

    Only requests whose ``Host`` is one of :func:`allowed_hosts` (``address``, the loopback names
    and ``allow_hosts``; on a wildcard address also any IP literal) are answered.
    """
    from app.dashboard import create_app

    names = allowed_hosts(address, allow_hosts)
    any_ip = address in WILDCARD_ADDRESSES
    configure()
    # Bind first, so that a port in use is reported at once (not after the warm-up, not with a URL
    # printed as if the server had started); requests wait in the socket's backlog until it serves.
    # With several processes, JAX must not start its threads before Tornado forks the workers:
    # each worker compiles on its first page (from the disk cache when there is one).
    origins = [f"{n}:{port}" for n in sorted(names) if ":" not in n]  # Bokeh's list takes no IPv6 literal
    try:
        server = pn.serve({"/": create_app}, port=port, address=address, show=show, num_procs=num_procs,
                          title="sigprop", websocket_origin=origins, threaded=False, start=False, verbose=False)
    except OSError as err:
        raise OSError(f"cannot listen on {address}:{port} ({err.strerror or err}); is another server running "
                      f"there? Choose another port with --port") from None
    install_host_check(server, names, any_ip)
    if warm and num_procs == 1:
        warm_up()
        _warm_rest_in_background()
    shown = "localhost" if address in WILDCARD_ADDRESSES else address
    print(f"sigprop dashboard: http://{shown}:{port}/ (answers to {', '.join(sorted(names))}"
          f"{' and any IP address' if any_ip else ''})", flush=True)
    ignore_closed_websockets(server.io_loop.asyncio_loop)
    server.start()
    server.io_loop.start()


def ignore_closed_websockets(loop) -> None:
    """Do not log "Task exception was never retrieved" when a tab closes while a message is on
    its way to it (Tornado's unawaited write raises WebSocketClosedError): the session is gone,
    nothing went wrong. Every other exception goes to the loop's handler as before."""
    from tornado.iostream import StreamClosedError
    from tornado.websocket import WebSocketClosedError

    previous = loop.get_exception_handler()

    def handler(loop, context):
        if isinstance(context.get("exception"), WebSocketClosedError | StreamClosedError):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
