"""Structured logs: one JSON object per line, carrying the request id of the work it belongs to.

The gateway takes ``X-Request-ID`` (or makes one) and sends it with every RPC call as nameko
context data (``request_id``). nameko passes context data on in the headers of every RPC call
and event a worker makes, and the outbox keeps them with each event, so the same id reaches
every service that does part of the request; ``RequestContext`` makes it part of each log line
a worker writes. ``grep <id> .run/logs/*.log`` then tells the whole story.

In a service's config::

    LOGGING:
      formatters:
        json: {"()": chassis.logs.JsonFormatter, service: orders}
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from nameko.extensions import DependencyProvider
from nameko.rpc import ServiceProxy
from nameko.timer import Timer

from chassis.errors import ServiceError

REQUEST_ID = "request_id"  # the nameko context data key (header ``nameko.request_id``)
HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_log = logging.getLogger(__name__)
_current: ContextVar[str | None] = ContextVar(REQUEST_ID, default=None)


def valid_request_id(value: str | None) -> str | None:
    """``value`` when it is a usable request id (1–128 of ``A-Za-z0-9._:-``), else None."""
    return value if value and _VALID.fullmatch(value) else None


def current_request_id() -> str | None:
    return _current.get()


def bind_request_id(value: str | None) -> Token[str | None]:
    """Make ``value`` the request id of this (green) thread's log lines until ``reset``."""
    return _current.set(value)


def reset_request_id(token: Token[str | None]) -> None:
    _current.reset(token)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "service", "logger", "message", "request_id"?, "error"?}`` per line."""

    def __init__(self, service: str = "", **kwargs: Any) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, REQUEST_ID, None) or _current.get()
        if request_id:
            entry[REQUEST_ID] = request_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class RequestContext(DependencyProvider):
    """Binds each worker's request id (from its context data) to the log lines it writes,
    logs one line per RPC call or event handled (timers only when they fail), and gives the
    worker the id (``self.request_id``), or None when the work has none."""

    def setup(self) -> None:
        self._tokens: WeakKeyDictionary[Any, Token[str | None]] = WeakKeyDictionary()
        self._started: WeakKeyDictionary[Any, float] = WeakKeyDictionary()

    def worker_setup(self, worker_ctx: Any) -> None:
        request_id = valid_request_id(worker_ctx.data.get(REQUEST_ID))
        self._tokens[worker_ctx] = bind_request_id(request_id)
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        took = (time.perf_counter() - self._started.pop(worker_ctx, time.perf_counter())) * 1000
        name = f"{self.container.service_name}.{worker_ctx.entrypoint.method_name}"
        if exc_info is None:
            if not isinstance(worker_ctx.entrypoint, Timer):
                _log.info("%s done in %.1f ms", name, took)
        elif isinstance(exc_info[1], ServiceError):  # an answer, not a fault
            _log.info("%s refused in %.1f ms: %s", name, took, exc_info[1])
        else:
            _log.warning("%s failed in %.1f ms: %r", name, took, exc_info[1])

    def worker_teardown(self, worker_ctx: Any) -> None:
        token = self._tokens.pop(worker_ctx, None)
        if token is not None:
            # Torn down from another green thread (ValueError): nothing to undo there.
            with contextlib.suppress(ValueError):
                reset_request_id(token)

    def get_dependency(self, worker_ctx: Any) -> str | None:
        return valid_request_id(worker_ctx.data.get(REQUEST_ID))


class _OnBehalfOf:
    """A worker context whose context data carries another request id than the worker's."""

    def __init__(self, worker_ctx: Any, request_id: str) -> None:
        self._worker_ctx = worker_ctx
        self._request_id = request_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._worker_ctx, name)

    @property
    def context_data(self) -> dict[str, Any]:
        return {**self._worker_ctx.context_data, REQUEST_ID: self._request_id}


def on_behalf_of(proxy: Any, request_id: str | None) -> Any:
    """``proxy`` (an ``RpcProxy``'s), making its calls under ``request_id``: for work a worker
    does for a request other than its own, such as a timer resuming an order placed earlier.
    Anything but a nameko proxy (a test double), or no id, gives ``proxy`` back as it is."""
    if not request_id or not isinstance(proxy, ServiceProxy):
        return proxy
    return ServiceProxy(
        _OnBehalfOf(proxy.worker_ctx, request_id),
        proxy.service_name,
        proxy.reply_listener,
        **proxy.options,
    )
