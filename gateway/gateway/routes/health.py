"""Liveness, readiness and metrics: the routes an operator's tools call.

``bp`` is served on the public port: ``/health`` alone, which a load balancer may probe.
``ops_bp`` is served on the ops port only (``gateway.ops``), off the public Ingress, like each
service's: ``/health/live``, ``/health/ready`` (the whole shop's readiness) and ``/metrics``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, current_app
from kombu import Connection

from gateway.context import settings
from gateway.metrics import exposition

bp = Blueprint("health", __name__)
ops_bp = Blueprint("ops", __name__)


@bp.get("/health")
@ops_bp.get("/health/live")
def health():
    return {"status": "ok"}


def _check_broker() -> str | None:
    try:
        with Connection(settings().amqp_uri, connect_timeout=settings().ready_timeout) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # any failure means "not ready", with its reason
        return f"unreachable: {exc.__class__.__name__}"
    return None


def _ping(service: str) -> str | None:
    try:
        answer = current_app.extensions["ready_rpc"].call(service, "ping")
    except Exception as exc:
        return f"no answer: {exc.__class__.__name__}"
    return None if answer.get("status") == "ok" else f"unexpected answer: {answer!r}"


def _service_ready(service: str) -> str | None:
    """What the service's own readiness check (its database, the broker...) says is wrong."""
    url = settings().ops_urls.get(service)
    if url is None:
        return None
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=settings().ready_timeout):
            return None
    except urllib.error.HTTPError as exc:
        try:
            failed = json.loads(exc.read()).get("failed") or []
        except ValueError:
            failed = []
        return f"not ready: {', '.join(failed) or exc.code}"
    except OSError as exc:
        return f"health port unreachable: {exc.__class__.__name__}"


def _check_service(service: str) -> str | None:
    return _ping(service) or _service_ready(service)


@ops_bp.get("/health/ready")
def ready():
    """200 when the broker and every service answer; 503 naming what failed otherwise.

    A service is ready when it answers an RPC ping through the broker (the path every request
    takes) and its own readiness check passes (its database and broker connections)."""
    checks: dict[str, str] = {}
    broker = _check_broker()
    checks["rabbitmq"] = broker or "ok"
    if broker is None:
        app = current_app._get_current_object()
        services = settings().services

        def ping(service: str) -> str | None:
            with app.app_context():
                return _check_service(service)

        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            for service, failure in zip(services, pool.map(ping, services), strict=True):
                checks[service] = failure or "ok"
    failed = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "ready" if not failed else "unavailable", "checks": checks}
    if failed:
        body["failed"] = failed
        return body, 503
    return body


@ops_bp.get("/metrics")
def metrics():
    return exposition()
