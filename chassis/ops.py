"""The HTTP port an operator's tools talk to: liveness, readiness and Prometheus metrics.

``ops = OpsServer()`` on a service serves, on ``OPS_HOST:OPS_PORT`` (service config):

- ``GET /health/live``: 200 while the process runs its event loop (a hung loop cannot answer);
- ``GET /health/ready``: 200 when the service can do its work, 503 naming what it cannot reach:
  its databases and the broker (reachable, and its RPC queue consumed), always; and whatever
  else its dependencies report through a ``readiness()`` method (the Redis cache does:
  reported, but not required, since the service serves without it);
- ``GET /metrics``: everything ``chassis.metrics`` records, in Prometheus' text format.

It is not a nameko ``@http`` entrypoint on purpose: those run as workers, so a service busy
with ``max_workers`` requests, or stopping, would stop answering its probes, and every scrape
would count as a request. Without ``OPS_PORT`` in the config (tests) nothing is served.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import eventlet
from eventlet import wsgi
from kombu import Connection
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider
from nameko.rpc import RPC_QUEUE_TEMPLATE, Rpc
from nameko_sqlalchemy import Database
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text

from chassis.config import setting

_log = logging.getLogger(__name__)

PORT_KEY = "OPS_PORT"
HOST_KEY = "OPS_HOST"
TIMEOUT_KEY = "READY_TIMEOUT"

Check = tuple[str, str | None, bool]  # (name, problem or None, whether readiness needs it)


class OpsServer(DependencyProvider):
    def setup(self) -> None:
        config = self.container.config
        port = setting(config, PORT_KEY, 0)
        self.timeout = setting(config, TIMEOUT_KEY, 2.0)
        self._socket: Any = None
        self._thread: Any = None
        if port:
            host = config.get(HOST_KEY) or "127.0.0.1"
            # Bound now, so a port already taken fails the start with a clear error.
            self._socket = eventlet.listen((host, port))
            _log.info("%s: health and metrics on http://%s:%d", self.service_name, host, port)

    @property
    def service_name(self) -> str:
        return str(self.container.service_name)

    def start(self) -> None:
        if self._socket is not None:
            self._thread = self.container.spawn_managed_thread(self._serve, identifier="ops-http")

    def stop(self) -> None:
        self._close()

    def kill(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._thread is not None:
            self._thread.kill()
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _serve(self) -> None:
        wsgi.server(self._socket, self._app, log_output=False, debug=False)

    # -- the WSGI application ----------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, body, kind = 405, b'{"error": "method_not_allowed"}', "application/json"
        elif path == "/health/live":
            status, (body, kind) = 200, _json({"service": self.service_name, "status": "alive"})
        elif path == "/health/ready":
            status, body, kind = self.readiness()
        elif path == "/metrics":
            status, body, kind = 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST
        else:
            status, body, kind = 404, b'{"error": "not_found"}', "application/json"
        reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Unavailable"}
        start_response(
            f"{status} {reason[status]}",
            [("Content-Type", kind), ("Content-Length", str(len(body)))],
        )
        return [body]

    def readiness(self) -> tuple[int, bytes, str]:
        checks = self.checks()
        failed = sorted(name for name, problem, required in checks if problem and required)
        body: dict[str, Any] = {
            "service": self.service_name,
            "status": "unavailable" if failed else "ready",
            "checks": {name: problem or "ok" for name, problem, _ in checks},
        }
        if failed:
            body["failed"] = failed
        return (503 if failed else 200), *_json(body)

    def checks(self) -> list[Check]:
        """Every check, each bounded by ``READY_TIMEOUT`` seconds, run side by side."""
        probes: list[tuple[str, bool, Callable[[], str | None]]] = [
            ("rabbitmq", True, self._broker)
        ]
        for extension in self.container.extensions:
            if isinstance(extension, Database):
                probes.append(("postgresql", True, _database(extension)))
            report = getattr(extension, "readiness", None)
            if report is not None and extension is not self:
                name, required = extension.readiness_name, extension.readiness_required
                probes.append((name, required, report))
        pool = eventlet.GreenPool(len(probes))
        problems = pool.imap(self._bounded, [probe for _, _, probe in probes])
        return [
            (name, problem, required)
            for (name, required, _), problem in zip(probes, problems, strict=True)
        ]

    def _bounded(self, probe: Callable[[], str | None]) -> str | None:
        try:
            with eventlet.Timeout(self.timeout):
                return probe()
        except eventlet.Timeout:
            return f"no answer within {self.timeout:g}s"
        except Exception as exc:  # any failure means "not ready", with its reason
            return f"unreachable: {exc.__class__.__name__}"

    def _broker(self) -> str | None:
        uri = self.container.config[AMQP_URI_CONFIG_KEY]
        with Connection(uri, connect_timeout=self.timeout) as conn:
            conn.ensure_connection(max_retries=1)
            if not any(isinstance(e, Rpc) for e in self.container.entrypoints):
                return None
            # Reachable is not enough: a service whose consumer keeps failing (a queue declared
            # with other arguments, say) answers nothing. No consumer on its RPC queue at all
            # means no call to it is answered, by this instance or any other.
            queue = RPC_QUEUE_TEMPLATE.format(self.service_name)
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
            if declared.consumer_count == 0:
                return f"nothing consumes {queue}"
        return None


def _database(extension: Database) -> Callable[[], str | None]:
    def probe() -> str | None:
        with extension.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None

    return probe


def _json(body: dict[str, Any]) -> tuple[bytes, str]:
    return json.dumps(body).encode(), "application/json"
