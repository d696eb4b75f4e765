"""Rate limits at the edge, counted in Redis so that every gunicorn worker and every gateway
instance shares one count.

* failed logins per email address, with the client's address and alone: see
  ``gateway.logins`` (the login route holds an attempt's place before the password is checked);
* logins and sign-ups per client address, orders placed per user: each route declares its own
  where it is declared (``Blueprint.limit``, a ``RateLimit`` recorded on the view), named by
  the environment variable that sets it. An order counts only when its answer is 201 or 202 and
  not an idempotent replay, so refusals and the retries of a careful client do not;
* optionally, one limit per client address on every route but the operator's.

Each app has a Flask-Limiter of its own (``install``), made from its settings, which counts
every limit its routes declare, each route its own (the view itself is left as declared). Over
a limit the answer is 429 with ``Retry-After`` and the usual JSON error body. Limits are a
guard, never a single point of failure: when Redis does not answer, each worker counts in its
own memory (and logs it) until Redis is back, and any other limiter error lets the request
through.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request
from flask_limiter import Limit, Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.auth import current_user
from gateway.config import Settings
from gateway.errors import Answer, ApiError, error_response
from gateway.idempotency import REPLAYED_HEADER
from gateway.logins import LoginGuard

_log = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5  # seconds: a Redis that does not answer costs a request this, then memory
KEY_PREFIX = "gateway"
TOO_MANY = "Too many requests from this address: try again later"
DECLARED = "rate_limits"  # a view's attribute: the limits its route declares
EXEMPT = "rate_limit_exempt"  # a view's attribute: not even the per-address default applies

View = TypeVar("View", bound=Callable[..., Any])


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


@dataclass(frozen=True)
class RateLimit:
    """A limit a route declares: at most what the environment variable ``variable`` sets
    (empty: no limit), counted per ``by``; beyond it, 429 saying ``message``. ``deduct_when``
    counts only the answers it accepts. Applied to a view, it records itself there."""

    variable: str
    by: Callable[[], str]
    message: str
    deduct_when: Callable[[Response], bool] | None = None

    def __call__(self, view: View) -> View:
        setattr(view, DECLARED, (*declared_by(view), self))
        return view

    def limit(self, value: str) -> Limit:
        """This limit at ``value``, for the app's limiter: counted on its own route only."""
        return Limit(
            value,
            key_function=self.by,
            error_message=self.message,
            deduct_when=self.deduct_when,
            exempt_when=lambda: self not in declared_by(_view()),
        )


# The limits routes declare, each once: an API route and the storefront page that does the
# same thing (sign up, sign in) declare the same one.
SIGNUPS = RateLimit(
    "RATE_LIMIT_SIGNUPS_PER_IP",
    client_ip,
    "Too many sign-ups from this address: try again later",
)
LOGINS = RateLimit(
    "RATE_LIMIT_LOGINS_PER_IP",
    client_ip,
    "Too many logins from this address: try again later",
)
ORDERS = RateLimit(
    "RATE_LIMIT_ORDERS_PER_USER",
    token_subject,
    "Too many orders placed: try again later",
    deduct_when=placed_order,
)


def exempt(view: View) -> View:
    """Never limited, by the per-address default either: probes and scrapes."""
    setattr(view, EXEMPT, True)
    return view


def declared_by(view: Any) -> tuple[RateLimit, ...]:
    return getattr(view, DECLARED, ())


def _view() -> Any:
    return current_app.view_functions.get(request.endpoint or "")


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
    """Count the limits ``app``'s routes declare (register them first) as ``settings`` say,
    and give the login route its failed-login guard (``app.extensions["logins"]``); None when
    ``RATE_LIMIT_ENABLED`` is off."""
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
    # Every limit is a default one, each exempt but on its own route (RateLimit.limit).
    limits: list[str | Callable[[], str] | Limit] = [*_route_limits(app, settings)]
    if default:
        limits.append(Limit(default, error_message=TOO_MANY))
    limiter = Limiter(
        client_ip,
        default_limits=limits,
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
        # CORS preflights never count; without a default limit, a route that declares none is
        # not looked at (which spares it the limiter's own work, about 0.1 ms a request).
        view = _view()
        if request.method == "OPTIONS" or getattr(view, EXEMPT, False):
            return True
        return not default and not declared_by(view)

    app.register_error_handler(RateLimitExceeded, _too_many(limiter))
    return limiter


def _route_limits(app: Flask, settings: Settings) -> list[Limit]:
    """The limits ``app``'s routes declare, at the values ``settings`` give them."""
    declared = dict.fromkeys(
        rule for view in app.view_functions.values() for rule in declared_by(view)
    )
    values = {
        rule: check(rule.variable, getattr(settings, rule.variable.lower())) for rule in declared
    }
    return [rule.limit(value) for rule, value in values.items() if value]


def _storage_options(uri: str) -> dict[str, Any]:
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}
    return {}


def _too_many(limiter: Limiter) -> Callable[[RateLimitExceeded], Answer]:
    def handler(exc: RateLimitExceeded) -> Answer:
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
