"""The gateway's ops port: liveness, the shop's readiness and metrics, off the public port.

gunicorn listens on two ports (``gateway/gunicorn.conf.py``): the public one, which the Ingress
or load balancer forwards to, and ``GATEWAY_OPS_PORT``, which only the cluster's own tools
reach (probes, Prometheus). Each request is served by the app of the port it came in on:
gunicorn sets ``SERVER_PORT`` from the listening socket, not from anything the client sends.
So ``/health/ready`` (which fans out to every service) and ``/metrics`` are not reachable
from outside, and the public app does not answer them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask

from gateway import headers
from gateway.errors import register_error_handlers
from gateway.routes import health


def create_ops_app(public: Flask) -> Flask:
    """The ops app, sharing the public app's settings and clients (its ``extensions``)."""
    ops = Flask("gateway.ops")
    ops.extensions = public.extensions
    ops.json = public.json
    headers.install(ops)
    register_error_handlers(ops)
    ops.register_blueprint(health.ops_bp)
    return ops


class ByPort:
    """WSGI: requests that came in on ``ops_port`` go to ``ops``, every other to ``public``."""

    def __init__(self, public: Any, ops: Any, ops_port: int) -> None:
        self.public = public
        self.ops = ops
        self.ops_port = str(ops_port)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        app = self.ops if environ.get("SERVER_PORT") == self.ops_port else self.public
        return app(environ, start_response)


def install(app: Flask, ops_port: int) -> None:
    """Serve the ops app on ``ops_port`` through ``app``; install last, outermost."""
    ops = create_ops_app(app)
    app.wsgi_app = ByPort(app.wsgi_app, ops.wsgi_app, ops_port)  # type: ignore[method-assign]
