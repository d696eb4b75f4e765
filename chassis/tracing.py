"""Distributed tracing with OpenTelemetry, carried in nameko's context data.

The W3C trace context (``traceparent``, ``tracestate``) travels the way the request id does:
as context data, which nameko sends as ``nameko.*`` headers with every RPC call and event a
worker makes, and which the outbox keeps with each event it stores. ``Tracing`` is the
dependency provider that turns each worker into a span: a child of the span that called it
(the gateway's request, or the worker whose call or event started it), named
``<service>.<method>``.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (spans are then sent over OTLP/HTTP,
in batches, from a background thread) or when a test installed an SDK tracer provider of its
own; otherwise it costs one ``isinstance`` per worker and the trace context a caller sent is
passed on untouched.

(``opentelemetry-instrumentation-nameko`` needs nameko 3, hence this small provider.)
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any
from weakref import WeakKeyDictionary

from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from chassis.errors import ServiceError
from chassis.logs import REQUEST_ID

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
KEYS = ("traceparent", "tracestate")

_propagator = TraceContextTextMapPropagator()


def enabled() -> bool:
    """Whether spans are recorded in this process (an SDK tracer provider is installed)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def configure(service_name: str) -> bool:
    """Send this process's spans over OTLP when the endpoint is configured; returns whether
    tracing is on. Once per process: the first caller's name names the process."""
    if enabled():
        return True
    if not (os.environ.get(ENDPOINT_ENV) or os.environ.get(TRACES_ENDPOINT_ENV)):
        return False
    # Imported only when used: the exporter pulls in protobuf.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def extract(carrier: MutableMapping[str, Any]) -> Context:
    """The trace context a caller sent (an empty context when it sent none)."""
    return _propagator.extract({key: carrier[key] for key in KEYS if key in carrier})


def inject(carrier: MutableMapping[str, Any], context: Context | None = None) -> None:
    """Write the trace context of ``context`` (default: the current one) into ``carrier``,
    replacing whatever it held, so that the calls made with it continue that trace."""
    for key in KEYS:
        carrier.pop(key, None)
    _propagator.inject(carrier, context=context)


class Tracing(DependencyProvider):
    """One span per worker (``tracing = Tracing()`` on a service).

    The span is not made the thread's current context: workers make their calls through
    nameko's proxies, which read the worker's context data, so writing the span's trace
    context there is what makes downstream work its children.
    """

    def setup(self) -> None:
        configure(self.container.service_name)
        self.tracer = trace.get_tracer(__name__)
        self._spans: WeakKeyDictionary[Any, Span] = WeakKeyDictionary()

    def worker_setup(self, worker_ctx: Any) -> None:
        if not enabled():
            return
        entrypoint = worker_ctx.entrypoint
        service = self.container.service_name
        attributes = {
            "rpc.system": "nameko",
            "rpc.service": service,
            "rpc.method": entrypoint.method_name,
        }
        if isinstance(entrypoint, Rpc):
            kind = SpanKind.SERVER
        elif isinstance(entrypoint, EventHandler):
            kind = SpanKind.CONSUMER
            attributes["messaging.source"] = entrypoint.source_service
            attributes["messaging.event_type"] = entrypoint.event_type
        else:
            kind = SpanKind.INTERNAL
        request_id = worker_ctx.data.get(REQUEST_ID)
        if request_id:
            attributes["shop.request_id"] = str(request_id)
        span = self.tracer.start_span(
            f"{service}.{entrypoint.method_name}",
            context=extract(worker_ctx.data),
            kind=kind,
            attributes=attributes,
        )
        self._spans[worker_ctx] = span
        inject(worker_ctx.data, trace.set_span_in_context(span))

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        span = self._spans.get(worker_ctx)
        if span is None or exc_info is None:
            return
        error = exc_info[1]
        span.set_attribute("error.type", type(error).__name__)
        if not isinstance(error, ServiceError):  # a refusal is an answer, not a fault
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)[:200]))

    def worker_teardown(self, worker_ctx: Any) -> None:
        span = self._spans.pop(worker_ctx, None)
        if span is not None:
            span.end()
