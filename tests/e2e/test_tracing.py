"""Tracing across processes: with OTEL_EXPORTER_OTLP_ENDPOINT set, the gateway and every
service export spans over OTLP, and one order is one trace across all of them."""

import time
import uuid

from tests.e2e.test_orders import new_product


def trace_of(otlp_sink, request_id, services, timeout=20):
    """The spans of the trace whose orders.create_order ran under ``request_id``, once spans
    from every one of ``services`` arrived."""
    deadline = time.monotonic() + timeout
    while True:
        spans = otlp_sink.snapshot()
        placed = [
            s
            for s in spans
            if s.name == "orders.create_order" and s.attributes.get("shop.request_id") == request_id
        ]
        ours = [s for s in spans if placed and s.trace_id == placed[0].trace_id]
        if {s.service for s in ours} >= services or time.monotonic() > deadline:
            return ours
        time.sleep(0.2)


def test_one_order_is_one_trace_across_the_gateway_and_every_service(admin, customer, otlp_sink):
    product = new_product(admin, stock=5)
    request_id = f"trace-{uuid.uuid4().hex}"
    placed = customer.post(
        "/api/v1/orders",
        json={"items": [{"product_id": product["id"], "quantity": 1}], "payment_token": "tok_ok"},
        headers={"X-Request-ID": request_id},
    )
    assert placed.status_code == 201, placed.text
    services = {"gateway", "orders", "products", "payments", "notifications"}
    spans = trace_of(otlp_sink, request_id, services)
    assert {s.service for s in spans} >= services, sorted({(s.service, s.name) for s in spans})

    by_id = {s.span_id: s for s in spans}
    (root,) = [s for s in spans if not s.parent_id]
    assert (root.service, root.name) == ("gateway", "POST /api/v1/orders")

    def parent(name):
        (span,) = [s for s in spans if s.name == name]
        return by_id[span.parent_id].name

    assert parent("orders.create_order") == "POST /api/v1/orders"
    assert parent("products.reserve_stock") == "orders.create_order"
    assert parent("payments.charge") == "orders.create_order"
    # reached through the outbox and the broker
    assert parent("notifications.handle_order_confirmed") == "orders.create_order"
