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
from functools import partial
from typing import Any

from flask import Blueprint, Response, current_app
from kombu import Connection

from gateway import api
from gateway.config import Settings
from gateway.context import settings
from gateway.limits import exempt
from gateway.metrics import exposition
from gateway.responses import Health

bp = api.Blueprint("health", __name__)
ops_bp = Blueprint("ops", __name__)


@bp.get("/health", tags=[api.OPERATIONS])
@bp.alt_response(200, schema=Health, description="The process answers.", success=True)
@exempt  # probes, never limited
@ops_bp.get("/health/live")
def health() -> dict[str, str]:
    """Liveness"""
    return {"status": "ok"}


def _check_broker() -> str | None:
    try:
        with Connection(settings().amqp_uri, connect_timeout=settings().ready_timeout) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # any failure means "not ready", with its reason
        return f"unreachable: {exc.__class__.__name__}"
    return None


def _ping(ready_rpc: Any, service: str) -> str | None:
    try:
        answer = ready_rpc.call(service, "ping")
    except Exception as exc:
        return f"no answer: {exc.__class__.__name__}"
    return None if answer.get("status") == "ok" else f"unexpected answer: {answer!r}"


def _service_ready(config: Settings, service: str) -> str | None:
    """What the service's own readiness check (its database, the broker...) says is wrong."""
    url = config.ops_urls.get(service)
    if url is None:
        return None
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=config.ready_timeout):
            return None
    except urllib.error.HTTPError as exc:
        try:
            failed = json.loads(exc.read()).get("failed") or []
        except ValueError:
            failed = []
        return f"not ready: {', '.join(failed) or exc.code}"
    except OSError as exc:
        return f"health port unreachable: {exc.__class__.__name__}"


def _check_service(config: Settings, ready_rpc: Any, service: str) -> str | None:
    # In a thread of its own: given what it needs, as it has no app context.
    return _ping(ready_rpc, service) or _service_ready(config, service)


@ops_bp.get("/health/ready")
def ready() -> Any:
    """200 when the broker and every service answer; 503 naming what failed otherwise.

    A service is ready when it answers an RPC ping through the broker (the path every request
    takes) and its own readiness check passes (its database and broker connections)."""
    checks: dict[str, str] = {}
    broker = _check_broker()
    checks["rabbitmq"] = broker or "ok"
    if broker is None:
        services = settings().services
        check = partial(_check_service, settings(), current_app.extensions["ready_rpc"])
        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            for service, failure in zip(services, pool.map(check, services), strict=True):
                checks[service] = failure or "ok"
    failed = sorted(name for name, state in checks.items() if state != "ok")
    body: dict[str, Any] = {"status": "ready" if not failed else "unavailable", "checks": checks}
    if failed:
        body["failed"] = failed
        return body, 503
    return body


@ops_bp.get("/metrics")
def metrics() -> Response:
    return exposition()
