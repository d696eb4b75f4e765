"""Rate limits at the edge, counted in Redis so that every gunicorn worker and every gateway
instance shares one count.

* failed logins per email address, with the client's address and alone: see
  ``gateway.logins`` (an attempt is counted before the password is checked, atomically);
* logins per client address: every attempt counts (each costs a password hash in users);
* sign-ups per client address: every attempt counts (each may send a mail to any address);
* orders placed per user (the token's subject): only an answer 201 or 202 that is not an
  idempotent replay counts, so refusals and the retries of a careful client do not;
* optionally, one limit per client address on every route but the operator's.

Over a limit the answer is 429 with ``Retry-After`` and the usual JSON error body. Limits are a
guard, never a single point of failure: when Redis does not answer, each worker counts in its
own memory (and logs it) until Redis is back, and any other limiter error lets the request
through.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from flask_limiter import Limit, Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.auth import current_user
from gateway.config import Settings
from gateway.errors import ApiError, error_response
from gateway.idempotency import REPLAYED_HEADER
from gateway.logins import LoginGuard
from gateway.routes import health

_log = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5  # seconds: a Redis that does not answer costs a request this, then memory
KEY_PREFIX = "gateway"
LOGIN = "users.token"
SIGN_UP = "users.register"
PLACE_ORDER = "orders.create_order"
LIMITED = (LOGIN, SIGN_UP, PLACE_ORDER)
TOO_MANY = "Too many requests from this address: try again later"


def client_ip() -> str:
    """The client's address: the peer's, or the one ``TRUSTED_PROXY_HOPS`` proxies vouch for."""
    return request.remote_addr or "unknown"


def token_subject() -> str:
    """The user the bearer token names; without a valid token, the client's address (never
    counted: no order is placed without one)."""
    try:
        return f"user:{current_user()['id']}"
    except ApiError:
        return f"anonymous:{client_ip()}"


def placed_order(response: Response) -> bool:
    # A refusal (bad input, no token, a 5xx that careful clients retry) places nothing, and a
    # replay was served from Redis: only a new order counts.
    return response.status_code in (201, 202) and REPLAYED_HEADER not in response.headers


def check(name: str, value: str) -> str:
    """``value`` when empty or a valid rate limit string; fails at start-up naming ``name``."""
    if value:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"{name}: {value!r} is not a rate limit (e.g. '5 per minute; 100 per hour')"
            ) from None
    return value


def install(app: Flask, settings: Settings) -> Limiter | None:
    """Limit the login, sign-up and order routes (registered before this is called) as
    ``settings`` say, and give the login route its failed-login guard (``app.extensions
    ["logins"]``); None when ``RATE_LIMIT_ENABLED`` is off."""
    if settings.trusted_proxy_hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_hops)  # type: ignore[method-assign]
    storage_uri = settings.rate_limit_storage_url or settings.redis_url
    enabled = settings.rate_limit_enabled
    app.extensions["logins"] = LoginGuard(
        storage_uri,
        check(
            "RATE_LIMIT_FAILED_LOGINS_PER_EMAIL_AND_IP",
            settings.rate_limit_failed_logins_per_email_and_ip if enabled else "",
        ),
        check(
            "RATE_LIMIT_FAILED_LOGINS_PER_EMAIL",
            settings.rate_limit_failed_logins_per_email if enabled else "",
        ),
        timeout=REDIS_TIMEOUT,
    )
    if not enabled:
        return None
    default = check("RATE_LIMIT_DEFAULT_PER_IP", settings.rate_limit_default_per_ip)
    limiter = Limiter(
        client_ip,
        default_limits=[Limit(default, error_message=TOO_MANY)] if default else [],
        storage_uri=storage_uri,
        storage_options=_storage_options(storage_uri),
        strategy=settings.rate_limit_strategy,
        key_prefix=KEY_PREFIX,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    limiter.init_app(app)

    @limiter.request_filter
    def _unlimited() -> bool:
        # CORS preflights never count; without a default limit, the other routes are not
        # looked at (which spares them the limiter's own work, about 0.1 ms a request).
        return request.method == "OPTIONS" or (not default and request.endpoint not in LIMITED)

    limiter.exempt(health.bp)  # probes and scrapes
    _limit(
        app,
        limiter,
        SIGN_UP,
        check("RATE_LIMIT_SIGNUPS_PER_IP", settings.rate_limit_signups_per_ip),
        client_ip,
        "Too many sign-ups from this address: try again later",
    )
    _limit(
        app,
        limiter,
        LOGIN,
        check("RATE_LIMIT_LOGINS_PER_IP", settings.rate_limit_logins_per_ip),
        client_ip,
        "Too many logins from this address: try again later",
    )
    _limit(
        app,
        limiter,
        PLACE_ORDER,
        check("RATE_LIMIT_ORDERS_PER_USER", settings.rate_limit_orders_per_user),
        token_subject,
        "Too many orders placed: try again later",
        deduct_when=placed_order,
    )
    app.register_error_handler(RateLimitExceeded, _too_many(limiter))
    return limiter


def _storage_options(uri: str) -> dict[str, Any]:
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}
    return {}


def _limit(
    app: Flask,
    limiter: Limiter,
    endpoint: str,
    value: str,
    key: Callable[[], str],
    message: str,
    deduct_when: Callable[[Response], bool] | None = None,
) -> None:
    """Wrap ``endpoint``'s view in one more limit; each limit has its own key and count."""
    if not value:
        return
    decorate = limiter.limit(
        value,
        key_func=key,
        error_message=message,
        deduct_when=deduct_when,
        override_defaults=False,  # the per-address default limit applies here too
    )
    view: Any = app.view_functions[endpoint]
    app.view_functions[endpoint] = decorate(view)


def _too_many(limiter: Limiter) -> Callable[[RateLimitExceeded], Any]:
    def handler(exc: RateLimitExceeded) -> Any:
        wait = _seconds_to_wait(limiter.current_limit, exc)
        return error_response(
            429, "rate_limited", exc.description or "", headers={"Retry-After": str(wait)}
        )

    return handler


def _seconds_to_wait(breached: RequestLimit | None, exc: RateLimitExceeded) -> int:
    """Whole seconds until the breached limit lets one more request through."""
    try:
        if breached is not None:
            return max(1, math.ceil(breached.window.reset_time - time.time()))
    except Exception:  # the count's store failed since: the window's length is safe
        _log.warning("rate limit window unknown: Retry-After is the whole window", exc_info=True)
    return max(1, math.ceil(exc.limit.limit.get_expiry()))
