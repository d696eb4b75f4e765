"""CORS for the origins in ``CORS_ORIGINS`` only: a browser page served from one of them may call
the API; any other origin gets no CORS headers, so its browser keeps the answers from it.

Tokens travel in ``Authorization``, never in cookies, so credentials are not allowed.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from chassis.logs import HEADER as REQUEST_ID_HEADER
from gateway.config import Settings
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.idempotency import REPLAYED_HEADER

METHODS = ["GET", "POST", "PATCH", "OPTIONS"]
ALLOWED_HEADERS = ["Authorization", "Content-Type", IDEMPOTENCY_HEADER, REQUEST_ID_HEADER]
EXPOSED_HEADERS = [REQUEST_ID_HEADER, REPLAYED_HEADER, "Retry-After", "Location"]
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer


def install(app: Flask, settings: Settings) -> None:
    if not settings.cors_origins:
        return
    CORS(
        app,
        resources={r"/api/*": {"origins": list(settings.cors_origins)}},
        methods=METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        supports_credentials=False,
        max_age=PREFLIGHT_MAX_AGE,
        vary_header=True,
    )
