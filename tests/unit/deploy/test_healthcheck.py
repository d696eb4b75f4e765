"""deploy/docker/healthcheck.py, the images' health probe: healthy on a 2xx answer or an open
port, unhealthy on anything else, with the port read from the container's environment."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "deploy" / "docker" / "healthcheck.py"


def load():
    spec = importlib.util.spec_from_file_location("healthcheck", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Answers(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        status = {"/health/live": 200, "/health/ready": 503}.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = HTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_2xx_answer_is_healthy_with_the_port_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("OPS_PORT", str(server))
    assert load().probe("http://127.0.0.1:${OPS_PORT}/health/live") is None


def test_an_error_status_is_unhealthy_and_says_which(server):
    problem = load().probe(f"http://127.0.0.1:{server}/health/ready")
    assert problem is not None and "HTTP 503" in problem


def test_a_proxy_in_the_environment_is_not_used(server, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("no_proxy", "")
    assert load().probe(f"http://127.0.0.1:{server}/health/live") is None


def test_a_refused_connection_is_unhealthy():
    assert load().probe(f"http://127.0.0.1:{closed_port()}/health") is not None
    assert load().probe(f"tcp://127.0.0.1:{closed_port()}") is not None


def test_an_open_tcp_port_is_healthy(server):
    assert load().probe(f"tcp://127.0.0.1:{server}") is None


def test_an_unset_port_variable_is_unhealthy_not_a_crash(monkeypatch):
    monkeypatch.delenv("NO_SUCH_PORT", raising=False)
    assert load().probe("http://127.0.0.1:${NO_SUCH_PORT}/health") is not None


def test_the_exit_status_is_what_docker_reads():
    unhealthy = subprocess.run(
        [sys.executable, str(SCRIPT), f"tcp://127.0.0.1:{closed_port()}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unhealthy.returncode == 1
    assert "127.0.0.1" in unhealthy.stderr
    usage = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, timeout=30)
    assert usage.returncode == 1  # never 2, which Docker reserves
