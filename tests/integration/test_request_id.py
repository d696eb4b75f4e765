"""One request id, given at the edge, is on every log line of every service that worked for it:
RPC calls carry it in their headers, and events carry it from the outbox."""

import io
import json
import logging
import uuid

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from chassis.logs import JsonFormatter
from orders.service import OrdersService
from payments.service import PaymentsService
from products.service import ProductsService


@pytest.fixture
def lines():
    """Every log line written while the test runs, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service="test"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)


def test_an_order_is_logged_under_the_id_of_the_request_that_placed_it(
    runner_factory, service_config, lines
):
    runner = runner_factory(service_config, OrdersService, ProductsService, PaymentsService)
    runner.start()
    sku = f"RID-{uuid.uuid4().hex[:10]}"
    with entrypoint_hook(runner.service_map["products"], "create_product") as create:
        product = create({"sku": sku, "name": "Traced", "price_cents": 100, "stock": 5})
    request_id = f"req-{uuid.uuid4().hex}"
    user_id = uuid.uuid4().int % 1_000_000 + 1

    def projected(worker_ctx, result, exc_info):
        return worker_ctx.args[0]["user_id"] == user_id

    orders = runner.service_map["orders"]
    with entrypoint_waiter(orders, "project_order_confirmed", callback=projected, timeout=10):
        context = {"request_id": request_id}
        with ServiceRpcProxy("orders", service_config, context_data=context) as rpc:
            order = rpc.create_order(
                user_id, [{"product_id": product["id"], "quantity": 1}], "tok_visa"
            )
    assert order["status"] == "confirmed"
    ours = [line["message"] for line in lines() if line.get("request_id") == request_id]
    for step in (
        "orders.create_order done",
        "products.reserve_stock done",
        "payments.charge done",
        "orders.project_order_confirmed done",  # reached through the event, from the outbox
    ):
        assert any(message.startswith(step) for message in ours), (step, ours)


def test_the_recovery_loop_logs_under_the_id_of_the_request_that_placed_the_order(
    runner_factory, service_config, databases, lines
):
    from sqlalchemy import create_engine, text

    config = {**service_config, "SAGA_RECOVERY_INTERVAL": 0.2}
    runner = runner_factory(config, OrdersService, ProductsService, PaymentsService)
    runner.start()
    with entrypoint_hook(runner.service_map["products"], "create_product") as create:
        product = create(
            {"sku": f"RID-{uuid.uuid4().hex[:10]}", "name": "T", "price_cents": 1, "stock": 1}
        )
    order_id, request_id = str(uuid.uuid4()), f"req-{uuid.uuid4().hex}"
    engine = create_engine(databases["orders"])
    with engine.begin() as conn:  # placed, then the process died before the first step
        conn.execute(
            text(
                "INSERT INTO orders (id, user_id, fingerprint, status, step, payment_token,"
                " lease_until, request_id) VALUES (:id, 7, 'x', 'pending', 'reserve',"
                " 'tok_visa', now(), :rid)"
            ),
            {"id": order_id, "rid": request_id},
        )
        conn.execute(
            text("INSERT INTO order_items VALUES (:id, :product, 1, NULL)"),
            {"id": order_id, "product": product["id"]},
        )
    engine.dispose()

    def finished(worker_ctx, result, exc_info):
        return any(line.get("request_id") == request_id for line in lines())

    with entrypoint_waiter(
        runner.service_map["orders"], "recover_sagas", callback=finished, timeout=10
    ):
        pass
    ours = [line["message"] for line in lines() if line.get("request_id") == request_id]
    assert f"order {order_id}: resuming at step reserve" in ours
    # and the services it called on the order's behalf logged under that id too
    assert any(message.startswith("products.reserve_stock done") for message in ours), ours
    assert any(message.startswith("payments.charge done") for message in ours), ours
