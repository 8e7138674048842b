"""A shared dashboard link and a shared machine must be safe: hostile strings are shown as text, the
server answers only to its own host names, the compilation cache is private and a Dask sweep keeps its
scratch files in its own directory. The real-browser and real-server halves are in test_browser.py."""

from __future__ import annotations

import doctest
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app import server as srv

ROOT = Path(__file__).resolve().parents[1]


def test_server_doctests_run():
    assert doctest.testmod(srv, raise_on_error=False).failed == 0


def test_default_server_answers_only_to_loopback_names():
    names = srv.allowed_hosts("localhost")
    for host in ("localhost:5006", "127.0.0.1:5006", "[::1]:5006", "LOCALHOST:5006", "localhost"):
        assert srv.host_is_allowed(host, names, any_ip=False), host
    for host in ("evil.example:5006", "localhost.evil.example:5006", "127.0.0.1.nip.io:5006", "10.0.0.5:5006",
                 "", ":5006", "user@localhost:5006"):
        assert not srv.host_is_allowed(host, names, any_ip=False), host


def test_class_server_answers_to_ip_literals_and_named_hosts_only():
    names = srv.allowed_hosts("0.0.0.0", ["class.example.org"])
    assert srv.host_is_allowed("class.example.org:5006", names, any_ip=True)
    assert srv.host_is_allowed("192.168.1.20:5006", names, any_ip=True)  # an IP literal cannot be rebound
    assert srv.host_is_allowed("[fe80::1]:5006", names, any_ip=True)
    assert not srv.host_is_allowed("evil.example:5006", names, any_ip=True)
    assert "0.0.0.0" not in names


def test_malformed_allow_host_is_refused():
    for bad in ("evil.example:80", "a b", "<script>", "", "-x.org"):
        with pytest.raises(srv.HostNotAllowedError, match="--allow-host"):
            srv.allowed_hosts("localhost", [bad])


def test_private_cache_directory_is_accepted(tmp_path):
    os.chmod(tmp_path, 0o700)
    path = srv.check_private_dir(tmp_path / "cache" / "jax")
    assert path.is_dir() and stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_cache_directory_others_can_write_is_refused(tmp_path):
    os.chmod(tmp_path, 0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(srv.UnsafeCacheError, match="can be written by other users"):
        srv.check_private_dir(shared)
    with pytest.raises(srv.UnsafeCacheError, match="not private"):
        srv.check_private_dir(shared / "jax")  # a private directory under a writable one is not private
    os.chmod(shared, 0o777 | stat.S_ISVTX)  # sticky, like /tmp: others cannot replace what we own
    assert srv.check_private_dir(shared / "jax").is_dir()


def test_symlinked_cache_directory_is_refused(tmp_path):
    os.chmod(tmp_path, 0o700)
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(srv.UnsafeCacheError, match="plain directory"):
        srv.check_private_dir(tmp_path / "link")


def _cli(*args, env=None):
    cmd = [sys.executable, "-c", "import sys; from sigprop.cli import main; sys.exit(main())", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


def test_serve_refuses_a_shared_cache_directory_with_one_line(tmp_path):
    os.chmod(tmp_path, 0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    r = _cli("serve", "--port", "1", "--no-warm", env={**os.environ, "SIGPROP_CACHE_DIR": str(shared)})
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "not private" in r.stderr and "SIGPROP_CACHE_DIR" in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_refuses_a_malformed_allowed_host_with_one_line():
    r = _cli("serve", "--allow-host", "evil.example:80", "--no-warm")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--allow-host" in r.stderr


def test_alert_and_readout_show_user_text_escaped():
    from app.dashboard import alert_html, readout_html

    payload = "<img src=x onerror=alert(1)>"
    assert "<img" not in alert_html(payload, "danger") and "&lt;img" in alert_html(payload, "danger")

    from types import SimpleNamespace

    readout = {"q_star": 1.0, "c_star": 1.0, "chi_1": 0.5, "chi_c": 0.5, "xi_q": 1.0, "xi_c": 1.0,
               "critical_sigma_w2": 1.5, "critical_how": payload, "note": payload, "phase_text": payload,
               "sigma_w2": 1.0, "sigma_b2": 0.1, "dropout": 1.0, "phi": payload}
    fake = SimpleNamespace(bn=None, theory={"readout": readout})
    html = readout_html(fake)
    assert "<img" not in html and html.count("&lt;img") == 4


@pytest.mark.slow
def test_local_dask_cluster_keeps_its_scratch_in_the_sweep_directory(tmp_path):
    pytest.importorskip("distributed")
    from sigprop.sweep import dask_client

    with dask_client("local", tmp_path / "dask-scratch") as client:
        dirs = client.run(lambda dask_worker: dask_worker.local_directory)
    assert dirs and all(Path(d).resolve().is_relative_to((tmp_path / "dask-scratch").resolve()) for d in dirs.values())


def test_serve_on_a_port_in_use_fails_at_once_with_one_line():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = _cli("serve", "--port", str(s.getsockname()[1]), "--address", "127.0.0.1")  # warm-up is never reached
    assert r.returncode == 2 and "cannot listen" in r.stderr and r.stderr.count("\n") == 1
    assert "sigprop dashboard:" not in r.stdout and "Traceback" not in r.stderr


def test_a_closed_tab_is_not_logged_as_an_error_but_other_task_failures_are(caplog):
    import asyncio

    from tornado.websocket import WebSocketClosedError

    async def closed():
        raise WebSocketClosedError()

    async def broken():
        raise RuntimeError("a real bug")

    loop = asyncio.new_event_loop()
    try:
        srv.ignore_closed_websockets(loop)
        with caplog.at_level("ERROR", logger="asyncio"):
            for coro in (closed(), broken()):
                task = loop.create_task(coro)
                loop.run_until_complete(asyncio.sleep(0))
                loop.call_exception_handler({"message": "Task exception was never retrieved",
                                             "exception": task.exception(), "future": task})
    finally:
        loop.close()
    assert "a real bug" in caplog.text and "WebSocketClosedError" not in caplog.text
