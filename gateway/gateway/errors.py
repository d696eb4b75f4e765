"""Every error a client can see, as JSON: ``{"error": CODE, "message": ..., "fields": {...}}``.

Remote exceptions are mapped to HTTP in the one table below, by the dotted path nameko sends
with them. The gateway imports no service code: it teaches nameko to rebuild each listed path
as a :class:`RemoteServiceError` carrying the service's ``(message, fields)``.
"""

from __future__ import annotations

import logging
import math
from functools import partial
from typing import Any

import pybreaker
from flask import Flask, jsonify
from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.exceptions import registry as nameko_registry
from werkzeug.exceptions import HTTPException

from gateway.rpc import PoolExhausted

_log = logging.getLogger(__name__)

REMOTE_ERRORS: dict[str, tuple[int, str]] = {
    "chassis.errors.InvalidInput": (400, "invalid_input"),
    "users.exceptions.InvalidCredentials": (401, "invalid_credentials"),
    "users.exceptions.UserNotFound": (404, "user_not_found"),
    "users.exceptions.UserAlreadyExists": (409, "user_exists"),
    "products.exceptions.ProductNotFound": (404, "product_not_found"),
    "products.exceptions.DuplicateSku": (409, "duplicate_sku"),
    "products.exceptions.OutOfStock": (409, "out_of_stock"),
    "orders.exceptions.OrderNotFound": (404, "order_not_found"),
    "orders.exceptions.OrderNotCancellable": (409, "order_not_cancellable"),
    "orders.exceptions.UnknownProduct": (422, "unknown_product"),
    "orders.exceptions.OrderRejected": (422, "order_rejected"),
    "orders.exceptions.IdempotencyKeyReused": (422, "idempotency_key_reused"),
}


class ApiError(Exception):
    """An error the gateway answers itself."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}


class RemoteServiceError(Exception):
    """A listed service exception, rebuilt from what nameko sent."""

    def __init__(self, path: str, message: str = "", fields: dict[str, Any] | None = None):
        super().__init__(message)
        self.path = path
        self.message = message
        self.fields = fields if isinstance(fields, dict) else {}


def register_remote_errors() -> None:
    """Teach nameko (process-wide) to rebuild each listed path as a RemoteServiceError."""
    for path in REMOTE_ERRORS:
        nameko_registry[path] = partial(RemoteServiceError, path)


def error_response(
    status: int, code: str, message: str, fields: dict[str, Any] | None = None, headers=None
):
    body = jsonify(error=code, message=message, fields=fields or {})
    return body, status, headers or {}


def register_error_handlers(app: Flask) -> None:
    register_remote_errors()

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)

    @app.errorhandler(RemoteServiceError)
    def _remote_error(exc: RemoteServiceError):
        status, code = REMOTE_ERRORS[exc.path]
        return error_response(status, code, exc.message, exc.fields)

    @app.errorhandler(RpcTimeout)
    def _timeout(exc: RpcTimeout):
        return error_response(504, "timeout", "A service did not answer in time")

    @app.errorhandler(UnknownService)
    @app.errorhandler(PoolExhausted)
    @app.errorhandler(OperationalError)
    @app.errorhandler(ConnectionError)
    def _unavailable(exc: Exception):
        _log.warning("service unavailable: %r", exc)
        return error_response(
            503, "service_unavailable", "A service is unavailable", headers={"Retry-After": "5"}
        )

    @app.errorhandler(pybreaker.CircuitBreakerError)
    def _circuit_open(exc: pybreaker.CircuitBreakerError):
        # Answered at once, without trying: the service failed repeatedly just now.
        wait = math.ceil(app.extensions["settings"].breaker_reset_timeout)
        return error_response(
            503,
            "service_unavailable",
            "A service is unavailable",
            headers={"Retry-After": str(wait)},
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        # Keep what the exception says besides its HTML body: a 405's Allow, for one.
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return error_response(exc.code or 500, code, exc.description or exc.name, headers=headers)

    @app.errorhandler(RemoteError)
    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Never show internals (stack traces, exception or service names) to a client.
        _log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side")
