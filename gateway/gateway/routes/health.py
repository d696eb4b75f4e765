"""Liveness, readiness and metrics: the routes an operator's tools call."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, current_app
from kombu import Connection

from gateway.context import settings
from gateway.metrics import exposition

bp = Blueprint("health", __name__)


@bp.get("/health")
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


@bp.get("/ready")
def ready():
    """200 when the broker and every service answer; 503 naming what failed otherwise."""
    checks: dict[str, str] = {}
    broker = _check_broker()
    checks["rabbitmq"] = broker or "ok"
    if broker is None:
        app = current_app._get_current_object()
        services = settings().services

        def ping(service: str) -> str | None:
            with app.app_context():
                return _ping(service)

        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            for service, failure in zip(services, pool.map(ping, services), strict=True):
                checks[service] = failure or "ok"
    failed = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "ready" if not failed else "unavailable", "checks": checks}
    if failed:
        body["failed"] = failed
        return body, 503
    return body


@bp.get("/metrics")
def metrics():
    return exposition()
