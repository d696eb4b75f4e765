"""One order placement is one trace: the gateway's request span, the services' workers under
it, and the event handlers under the worker whose outbox announced the event."""

import time
import uuid

import pytest
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from chassis import tracing
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.config import Settings
from orders.service import OrdersService
from payments.service import PaymentsService
from products.service import ProductsService
from tests.integration.conftest import REDIS_URL

SECRET = "integration-secret-long-enough-for-hs256-signing"


@pytest.fixture(scope="module")
def spans():
    """Spans finished in this process, kept in memory (the provider can be set only once)."""
    if not tracing.enabled():
        trace.set_tracer_provider(TracerProvider())
    exporter = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def finished(exporter, *names, timeout=5):
    """The finished spans, once one of each of ``names`` is among them: a worker's span ends
    after its reply has been sent."""
    deadline = time.monotonic() + timeout
    while True:
        spans = exporter.get_finished_spans()
        if {*names} <= {s.name for s in spans} or time.monotonic() > deadline:
            return spans
        time.sleep(0.02)


def trace_of(exporter, root_name, *names, timeout=5):
    """The spans of the trace under the span ``root_name``, once it holds each of ``names``
    (tests share databases: an older test's event may be relayed and traced meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        spans = exporter.get_finished_spans()
        roots = [s for s in spans if s.name == root_name and s.parent is None]
        ours = [s for s in spans if roots and s.context.trace_id == roots[0].context.trace_id]
        if {*names} <= {s.name for s in ours} or time.monotonic() > deadline:
            return ours
        time.sleep(0.02)


def test_an_order_placed_over_http_is_one_trace(runner_factory, service_config, spans):
    runner = runner_factory(service_config, OrdersService, ProductsService, PaymentsService)
    runner.start()
    with entrypoint_hook(runner.service_map["products"], "create_product") as create:
        product = create(
            {"sku": f"TRC-{uuid.uuid4().hex[:10]}", "name": "Traced", "price_cents": 5, "stock": 3}
        )
    settings = Settings(amqp_uri=service_config["AMQP_URI"], jwt_secret=SECRET, redis_url=REDIS_URL)
    client = create_app(settings).test_client()
    user_id = uuid.uuid4().int % 1_000_000 + 1
    token = issue_token({"id": user_id, "role": "customer"}, settings)["access_token"]
    spans.clear()

    def projected(worker_ctx, result, exc_info):
        return worker_ctx.args[0]["user_id"] == user_id

    orders = runner.service_map["orders"]
    with entrypoint_waiter(orders, "project_order_confirmed", callback=projected, timeout=10):
        response = client.post(
            "/api/v1/orders",
            json={
                "items": [{"product_id": product["id"], "quantity": 1}],
                "payment_token": "tok_x",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.json

    ours = trace_of(
        spans,
        "POST /api/v1/orders",
        "orders.create_order",
        "products.reserve_stock",
        "payments.charge",
        "orders.project_order_confirmed",
    )
    (root,) = [s for s in ours if s.parent is None]
    assert (root.name, root.kind) == ("POST /api/v1/orders", SpanKind.SERVER)
    by_id = {s.context.span_id: s for s in ours}

    def parent_of(name):
        (span,) = [s for s in ours if s.name == name]
        return by_id[span.parent.span_id].name

    assert parent_of("orders.create_order") == "POST /api/v1/orders"
    assert parent_of("products.reserve_stock") == "orders.create_order"
    assert parent_of("payments.charge") == "orders.create_order"
    # The event went through the outbox and the broker, and still belongs to the order's trace.
    assert parent_of("orders.project_order_confirmed") == "orders.create_order"
    (handler,) = [s for s in ours if s.name == "orders.project_order_confirmed"]
    assert handler.kind == SpanKind.CONSUMER
    assert handler.attributes["messaging.event_type"] == "order_confirmed"
    assert {s.name for s in ours} >= {
        "POST /api/v1/orders",
        "orders.create_order",
        "products.reserve_stock",
        "payments.charge",
        "orders.project_order_confirmed",
    }
    # A worker's span carries the request id, to go from a trace to the logs and back.
    (placed,) = [s for s in ours if s.name == "orders.create_order"]
    assert placed.attributes["shop.request_id"] == response.headers["X-Request-ID"]


def test_a_failed_call_is_an_error_span_and_a_refusal_is_not(runner_factory, service_config, spans):
    from nameko.standalone.rpc import ServiceRpcProxy

    runner = runner_factory(service_config, OrdersService)
    runner.start()
    spans.clear()
    with (
        ServiceRpcProxy("orders", service_config) as rpc,
        pytest.raises(Exception, match="No order"),
    ):
        rpc.get_order(str(uuid.uuid4()))
    (refused,) = [s for s in finished(spans, "orders.get_order") if s.name == "orders.get_order"]
    assert refused.attributes["error.type"] == "OrderNotFound"
    assert refused.status.is_unset
