"""Every error a client can see, as JSON: ``{"error": CODE, "message": ..., "fields": {...}}``.

A service's error comes back from RPC as its own class (``chassis.contracts.errors`` declares
each one once and registers it with nameko), carrying the service's ``message`` and ``fields``;
the one table below says what each class answers over HTTP. Any other error, a service error
left out of the table included, is a generic 500 that shows nothing of the internals.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pybreaker
from flask import Flask, Response, jsonify
from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from werkzeug.exceptions import HTTPException

from chassis.contracts.errors import (
    CartEmpty,
    CartFull,
    CartItemNotFound,
    DuplicateSku,
    IdempotencyKeyReused,
    InvalidCredentials,
    OrderNotCancellable,
    OrderNotFound,
    OrderRejected,
    OutOfStock,
    ProductNotFound,
    ServiceUnavailable,
    UnknownProduct,
    UserAlreadyExists,
    UserNotFound,
)
from chassis.errors import InvalidInput, ServiceError
from gateway.rpc import PoolExhausted

_log = logging.getLogger(__name__)

# Keyed by the class itself, not its ancestors: a subclass answers only as it is listed here.
REMOTE_ERRORS: dict[type[ServiceError], tuple[int, str]] = {
    InvalidInput: (400, "invalid_input"),
    InvalidCredentials: (401, "invalid_credentials"),
    UserNotFound: (404, "user_not_found"),
    UserAlreadyExists: (409, "user_exists"),
    ProductNotFound: (404, "product_not_found"),
    DuplicateSku: (409, "duplicate_sku"),
    OutOfStock: (409, "out_of_stock"),
    OrderNotFound: (404, "order_not_found"),
    OrderNotCancellable: (409, "order_not_cancellable"),
    UnknownProduct: (422, "unknown_product"),
    OrderRejected: (422, "order_rejected"),
    IdempotencyKeyReused: (422, "idempotency_key_reused"),
    CartFull: (422, "cart_full"),
    CartItemNotFound: (404, "cart_item_not_found"),
    CartEmpty: (409, "cart_empty"),
}

Answer = tuple[Response, int, dict[str, str]]


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


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    body = jsonify(error=code, message=message, fields=fields or {})
    return body, status, headers or {}


def http_error(exc: HTTPException) -> Answer:
    """Werkzeug's own errors (404, 405, 413...) in the JSON body, their headers kept."""
    code = (exc.name or "error").lower().replace(" ", "_")
    # Keep what the exception says besides its HTML body: a 405's Allow, for one.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return error_response(exc.code or 500, code, exc.description or exc.name, headers=headers)


def unexpected(exc: Exception) -> Answer:
    # Never show internals (stack traces, exception or service names) to a client.
    _log.exception("unhandled error")
    return error_response(500, "internal_error", "Something went wrong on our side")


def service_error(exc: ServiceError) -> Answer:
    if isinstance(exc, ServiceUnavailable):  # up, but not its database: as if it were down
        return unavailable(exc)
    known = REMOTE_ERRORS.get(type(exc))
    if known is None:
        return unexpected(exc)
    status, code = known
    return error_response(status, code, exc.message, exc.fields)


def unavailable(exc: Exception) -> Answer:
    _log.warning("service unavailable: %r", exc)
    return error_response(
        503, "service_unavailable", "A service is unavailable", headers={"Retry-After": "5"}
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Answer:
        return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)

    @app.errorhandler(RpcTimeout)
    def _timeout(exc: RpcTimeout) -> Answer:
        return error_response(504, "timeout", "A service did not answer in time")

    @app.errorhandler(pybreaker.CircuitBreakerError)
    def _circuit_open(exc: pybreaker.CircuitBreakerError) -> Answer:
        # Answered at once, without trying: the service failed repeatedly just now.
        wait = math.ceil(app.extensions["settings"].breaker_reset_timeout)
        return error_response(
            503,
            "service_unavailable",
            "A service is unavailable",
            headers={"Retry-After": str(wait)},
        )

    app.register_error_handler(ServiceError, service_error)
    for unreachable in (UnknownService, PoolExhausted, OperationalError, ConnectionError):
        app.register_error_handler(unreachable, unavailable)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(RemoteError, unexpected)
    app.register_error_handler(Exception, unexpected)
