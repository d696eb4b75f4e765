"""The gateway's Flask application factory: ``gunicorn 'gateway.app:create_app()'``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor

from chassis import tracing
from gateway import bodies, cors, headers, limits, openapi, ops, request_id
from gateway.breakers import GuardedRpc
from gateway.config import Settings, check_secret
from gateway.errors import register_error_handlers
from gateway.idempotency import IdempotencyStore
from gateway.metrics import instrument
from gateway.routes import admin, cart, health, notifications, orders, products, users
from gateway.rpc import RpcPool
from gateway.schemas import JsonProvider
from gateway.storefront import pages

MAX_BODY_BYTES = 64 * 1024


def create_app(
    settings: Settings | None = None,
    rpc: Any = None,
    ready_rpc: Any = None,
    idempotency: IdempotencyStore | None = None,
) -> Flask:
    """Build the app. ``rpc``/``ready_rpc``/``idempotency`` replace the RPC client pools and
    the idempotency store (tests do this)."""
    settings = settings or Settings.from_env()
    check_secret(settings.jwt_secret)  # however the settings were made
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json = JsonProvider(app)
    app.json.sort_keys = False
    app.extensions["settings"] = settings
    # Clients start lazily, on first use, so each gunicorn worker opens its own after fork.
    app.extensions["rpc"] = GuardedRpc(
        rpc
        or RpcPool(
            settings.amqp_uri,
            settings.rpc_pool_size,
            settings.rpc_timeout,
            timeouts=settings.rpc_timeouts,
        ),
        settings.breaker_fail_max,
        settings.breaker_reset_timeout,
        settings.read_attempts,
    )
    app.extensions["ready_rpc"] = ready_rpc or RpcPool(
        settings.amqp_uri, len(settings.services), settings.ready_timeout
    )
    # Its Redis client, too, is made on first use.
    app.extensions["idempotency"] = idempotency or IdempotencyStore(
        settings.redis_url,
        settings.idempotency_ttl,
        wait=max([settings.rpc_timeout, *settings.rpc_timeouts.values()]) + 1,
    )
    request_id.install(app)
    bodies.install(app, MAX_BODY_BYTES)  # chunked bodies too
    headers.install(app)
    register_error_handlers(app)
    instrument(app)
    routes = (health, users, products, cart, orders, notifications, admin)
    openapi.install(app, [module.bp for module in routes])
    app.register_blueprint(pages.bp)  # the storefront's pages, outside the API and its document
    cors.install(app, settings)
    limits.install(app, settings)  # after the routes: it checks the limits they declare
    if tracing.configure("gateway"):
        # A span per request; RPC calls carry its trace context (gateway.rpc).
        FlaskInstrumentor().instrument_app(app, excluded_urls="health")
    ops.install(app, settings.ops_port)  # outermost: ops requests skip the public middleware
    if not app.debug:
        logging.getLogger("gateway").setLevel(logging.INFO)
    return app
