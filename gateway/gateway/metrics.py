"""Prometheus metrics for HTTP requests.

Under gunicorn every worker is a process: with ``PROMETHEUS_MULTIPROC_DIR`` set, each writes its
samples to files there and ``/metrics`` adds them up, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _route() -> str:
    # The rule, not the path: /api/v1/products/<int:product_id>, so labels stay few.
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def instrument(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        started = g.get("request_started")
        route = _route()
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        if started is not None:
            LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response


def exposition() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
