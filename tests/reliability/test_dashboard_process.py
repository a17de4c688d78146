"""Class 13: the dashboard process is owned — it dies with its parent, a busy port is exit 2,
and it answers only to its own host names (DNS rebinding)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboards.serve import host_name
from tests.conftest import ROOT, run_main
from tests.dashboards.browser import free_port

pytestmark = pytest.mark.slow  # a real Streamlit server


def test_a_busy_port_is_a_clear_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_main("dashboard", "--port", str(port), "--workspace", str(tmp_path))
    assert result.returncode == 2 and f"--port {port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_host_names_are_read_without_their_port() -> None:
    assert [host_name(h) for h in ("127.0.0.1:8501", "[::1]:8501", "localhost", "::1")] == \
        ["127.0.0.1", "::1", "localhost", "::1"]


def status(port: int, host: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/_stcore/health", headers={"Host": host})
        return connection.getresponse().status
    finally:
        connection.close()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_server_checks_host_and_dies_with_its_parent(tmp_path: Path) -> None:
    port = free_port()
    parent = subprocess.Popen(
        [sys.executable, "-m", "anomaly.cli", "dashboard", "--port", str(port), "--workspace",
         str(tmp_path)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not listening(port):
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        while status(port, f"127.0.0.1:{port}") != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status(port, f"localhost:{port}") == 200
        assert status(port, f"evil.example:{port}") == 403  # a rebound name is refused
        parent.send_signal(signal.SIGKILL)  # no chance to stop its child itself
        parent.wait(10)
        deadline = time.monotonic() + 20
        while listening(port):
            assert time.monotonic() < deadline, "the server outlived its parent"
            time.sleep(0.2)
    finally:
        if parent.poll() is None:
            parent.kill()
        os.killpg(parent.pid, signal.SIGKILL) if _group_alive(parent.pid) else None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
