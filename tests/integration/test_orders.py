"""The order saga over the real broker, with the real products and payments services."""

import time
import uuid
from datetime import UTC, datetime

import eventlet
import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from chassis.errors import InvalidInput
from orders import sales
from orders.exceptions import IdempotencyKeyReused, OrderNotCancellable, OrderNotFound
from orders.models import Order
from orders.service import OrdersService
from payments.service import PaymentsService
from products.service import ProductsService

# Quick sagas: the recovery loop looks often, and a lease or a call lasts little.
SAGA_SETTINGS = {
    "SAGA_RECOVERY_INTERVAL": 0.2,
    "SAGA_LEASE": 1.0,
    "SAGA_CALL_TIMEOUT": 2.0,
    "PAYMENT_PROVIDER_BACKOFF": 0.01,
}


@pytest.fixture
def config(service_config):
    return {**service_config, **SAGA_SETTINGS}


@pytest.fixture
def runner(runner_factory, config):
    runner = runner_factory(config, OrdersService, ProductsService, PaymentsService)
    runner.start()
    return runner


@pytest.fixture
def engines(databases):
    engines = {name: create_engine(url) for name, url in databases.items()}
    yield engines
    for engine in engines.values():
        engine.dispose()


def call(runner, service, method, *args, **kwargs):
    with entrypoint_hook(runner.service_map[service], method) as hook:
        return hook(*args, **kwargs)


def product(runner, stock=10, price_cents=250):
    sku = f"SKU-{uuid.uuid4().hex[:12]}"
    return call(
        runner,
        "products",
        "create_product",
        {"sku": sku, "name": f"Thing {sku}", "price_cents": price_cents, "stock": stock},
    )


def stock_of(runner, product_id):
    return call(runner, "products", "get_product", product_id)["stock"]


def user_id():
    return int(uuid.uuid4().int % 1_000_000_000) + 1


def place(runner, items, token="tok_visa", user=None, key=None):
    return call(runner, "orders", "create_order", user or user_id(), items, token, key)


def payment(runner, order_id):
    return call(runner, "payments", "get_payment", order_id)


def events_for(engine, order_id):
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT event_type FROM outbox WHERE payload->>'order_id' = :id ORDER BY id"),
            {"id": order_id},
        )
        return [row.event_type for row in rows]


def test_a_paid_order_is_confirmed_at_the_catalogue_price(runner, engines):
    a, b = product(runner, stock=5, price_cents=250), product(runner, stock=5, price_cents=1000)
    items = [
        {"product_id": b["id"], "quantity": 1},
        {"product_id": a["id"], "quantity": 1},
        {"product_id": a["id"], "quantity": 2},
    ]
    order = place(runner, items)
    assert order["status"] == "confirmed" and order["cancel_reason"] is None
    assert order["items"] == [
        {"product_id": a["id"], "quantity": 3, "price_cents": 250},
        {"product_id": b["id"], "quantity": 1, "price_cents": 1000},
    ]
    assert order["total_cents"] == 1750
    assert (stock_of(runner, a["id"]), stock_of(runner, b["id"])) == (2, 4)
    assert payment(runner, order["id"])["status"] == "approved"
    assert payment(runner, order["id"])["amount_cents"] == 1750
    assert events_for(engines["orders"], order["id"]) == ["order_created", "order_confirmed"]
    assert events_for(engines["payments"], order["id"]) == ["payment_succeeded"]


@pytest.mark.parametrize(
    ("token", "reason", "payment_status", "payment_event"),
    [
        ("tok_decline_insufficient_funds", "payment_declined", "declined", "payment_declined"),
        ("tok_fail_timeout", "payment_failed", "failed", "payment_failed"),
    ],
)
def test_a_refused_payment_cancels_the_order_and_gives_the_stock_back(
    runner, engines, token, reason, payment_status, payment_event
):
    item = product(runner, stock=3)
    order = place(runner, [{"product_id": item["id"], "quantity": 2}], token=token)
    assert (order["status"], order["cancel_reason"]) == ("cancelled", reason)
    assert stock_of(runner, item["id"]) == 3
    assert payment(runner, order["id"])["status"] == payment_status
    assert events_for(engines["orders"], order["id"]) == ["order_created", "order_cancelled"]
    assert events_for(engines["payments"], order["id"]) == [payment_event]


def test_not_enough_stock_cancels_the_order_and_charges_nothing(runner, engines):
    item = product(runner, stock=1)
    order = place(runner, [{"product_id": item["id"], "quantity": 2}])
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "out_of_stock")
    assert stock_of(runner, item["id"]) == 1
    # The compensation left a tombstone: a charge arriving late for this order takes nothing.
    assert payment(runner, order["id"])["status"] == "voided"
    late = call(runner, "payments", "charge", order["id"], 100, "tok_visa")
    assert late["status"] == "voided"
    assert events_for(engines["orders"], order["id"]) == ["order_cancelled"]


def test_a_free_item_keeps_the_price_it_was_reserved_at(runner):
    item = product(runner, price_cents=0)
    order = place(runner, [{"product_id": item["id"], "quantity": 2}])
    assert (order["status"], order["total_cents"]) == ("confirmed", 0)
    stored = call(runner, "orders", "get_order", order["id"])
    assert [line["price_cents"] for line in stored["items"]] == [0]


def test_an_unknown_product_is_refused_and_no_order_is_left(runner, engines):
    item = product(runner)
    user = user_id()
    with pytest.raises(InvalidInput) as caught:
        place(
            runner,
            [
                {"product_id": item["id"], "quantity": 1},
                {"product_id": 2_000_000_000, "quantity": 1},
            ],
            user=user,
        )
    assert type(caught.value).__name__ == "UnknownProduct"
    assert caught.value.fields == {"items": {"2000000000": ["Unknown product."]}}
    assert call(runner, "orders", "list_orders", user)["total"] == 0
    assert stock_of(runner, item["id"]) == 10


def test_bad_input_names_the_fields(runner):
    with pytest.raises(InvalidInput) as caught:
        call(runner, "orders", "create_order", 0, [], " ", None)
    assert set(caught.value.fields) == {"user_id", "items", "payment_token"}
    with pytest.raises(InvalidInput) as caught:
        place(runner, [{"product_id": 1, "quantity": 0}])
    assert caught.value.fields == {
        "items": {
            0: {"quantity": ["Must be greater than or equal to 1 and less than or equal to 10000."]}
        }
    }


def test_an_idempotency_key_places_one_order(runner):
    item = product(runner, stock=10)
    user, key = user_id(), uuid.uuid4().hex
    items = [{"product_id": item["id"], "quantity": 2}]
    first = place(runner, items, user=user, key=key)
    again = place(runner, items, user=user, key=key)
    assert again == first and first["status"] == "confirmed"
    assert stock_of(runner, item["id"]) == 8
    with pytest.raises(IdempotencyKeyReused):
        place(runner, [{"product_id": item["id"], "quantity": 3}], user=user, key=key)
    # Keys belong to a user: another user's same key is another order.
    other = place(runner, items, user=user_id(), key=key)
    assert other["id"] != first["id"]


def concurrently(config, clients, call):
    """``call(orders_proxy)`` from ``clients`` callers at once, each with its own RPC client."""

    def one(_):
        with ServiceRpcProxy("orders", config, timeout=30) as orders:
            return call(orders)

    return list(eventlet.GreenPool(clients).imap(one, range(clients)))


def test_concurrent_duplicates_of_one_key_make_one_order_and_one_charge(runner, config):
    item = product(runner, stock=100)
    user, key = user_id(), uuid.uuid4().hex
    items = [{"product_id": item["id"], "quantity": 1}]
    answers = concurrently(
        config, 20, lambda orders: orders.create_order(user, items, "tok_visa", key)
    )
    assert len({answer["id"] for answer in answers}) == 1
    assert stock_of(runner, item["id"]) == 99


def test_many_concurrent_orders_never_oversell(runner, config):
    item = product(runner, stock=5)
    items = [{"product_id": item["id"], "quantity": 1}]
    answers = concurrently(
        config, 30, lambda orders: orders.create_order(user_id(), items, "tok_visa")
    )
    outcomes = sorted((a["status"], a["cancel_reason"]) for a in answers)
    assert outcomes.count(("confirmed", None)) == 5
    assert outcomes.count(("cancelled", "out_of_stock")) == 25
    assert stock_of(runner, item["id"]) == 0


def test_the_owner_cancels_a_confirmed_order(runner, engines):
    item = product(runner, stock=4)
    user = user_id()
    order = place(runner, [{"product_id": item["id"], "quantity": 3}], user=user)
    with pytest.raises(OrderNotFound):
        call(runner, "orders", "cancel_order", order["id"], user_id())
    cancelled = call(runner, "orders", "cancel_order", order["id"], user)
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "user_cancelled")
    assert stock_of(runner, item["id"]) == 4
    assert payment(runner, order["id"])["status"] == "refunded"
    assert call(runner, "orders", "cancel_order", order["id"], user) == cancelled  # a retry
    assert events_for(engines["payments"], order["id"]) == ["payment_succeeded", "payment_refunded"]
    declined = place(runner, [{"product_id": item["id"], "quantity": 1}], "tok_decline", user)
    with pytest.raises(OrderNotCancellable):
        call(runner, "orders", "cancel_order", declined["id"], user)


def test_orders_are_private_and_listed_newest_first(runner):
    item = product(runner)
    user = user_id()
    first = place(runner, [{"product_id": item["id"], "quantity": 1}], user=user)
    second = place(runner, [{"product_id": item["id"], "quantity": 1}], user=user)
    assert call(runner, "orders", "get_order", first["id"], user) == first
    with pytest.raises(OrderNotFound):
        call(runner, "orders", "get_order", first["id"], user_id())
    page = call(runner, "orders", "list_orders", user, 0, 1)
    assert page == {"items": [second], "total": 2, "offset": 0, "limit": 1}


def test_an_order_placed_while_payments_is_down_is_finished_by_recovery(
    runner_factory, config, engines
):
    runner = runner_factory(
        {**config, "SAGA_SYNC_BUDGET": 0.5, "SAGA_CALL_TIMEOUT": 0.3},
        OrdersService,
        ProductsService,
    )
    runner.start()
    # payments has been seen before (its queue exists), but no instance is running now.
    item = product(runner, stock=2)
    order = place(runner, [{"product_id": item["id"], "quantity": 1}])
    assert order["status"] == "pending"
    assert stock_of(runner, item["id"]) == 1
    payments = runner_factory(config, PaymentsService)
    payments.start()  # the service comes back
    settled = wait_until_settled(runner, order["id"], engines["orders"])
    assert settled["status"] == "confirmed"
    assert call(payments, "payments", "get_payment", order["id"])["status"] == "approved"


def wait_until_settled(runner, order_id, engine, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order = call(runner, "orders", "get_order", order_id)
        if order["status"] != "pending":
            return order
        eventlet.sleep(0.1)
    with engine.connect() as conn:
        row = conn.execute(select(Order.step, Order.attempts).where(Order.id == order_id)).one()
    raise AssertionError(f"order {order_id} still pending at step {row.step} ({row.attempts})")


def unfinished_order(engine, product_id, quantity):
    """An order recorded at its first step, its lease run out, as a process that died right
    after writing it leaves it; returns its id."""
    order_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO orders (id, user_id, fingerprint, status, step, payment_token,"
                " lease_until) VALUES (:id, 7, 'x', 'pending', 'reserve', 'tok_visa', now())"
            ),
            {"id": order_id},
        )
        conn.execute(
            text("INSERT INTO order_items VALUES (:id, :product, :quantity, NULL)"),
            {"id": order_id, "product": product_id, "quantity": quantity},
        )
    return order_id


def test_an_order_left_mid_saga_by_a_crash_is_finished(runner, engines):
    # The process died after recording the order and before reserving anything.
    item = product(runner, stock=3)
    order_id = unfinished_order(engines["orders"], item["id"], quantity=2)
    settled = wait_until_settled(runner, order_id, engines["orders"])
    assert settled["status"] == "confirmed" and settled["total_cents"] == 500
    assert stock_of(runner, item["id"]) == 1


def test_lines_adding_up_past_the_bound_are_refused_before_any_order(runner):
    item = product(runner, stock=20_000)
    user = user_id()
    lines = [{"product_id": item["id"], "quantity": 6_000}] * 2
    with pytest.raises(InvalidInput) as caught:
        place(runner, lines, user=user)
    assert list(caught.value.fields["items"]) == [1]
    assert call(runner, "orders", "list_orders", user)["total"] == 0
    assert stock_of(runner, item["id"]) == 20_000


def test_an_order_products_refuses_as_invalid_is_cancelled_at_once(runner, engines):
    # Written by an older version that did not check the sum: products refuses the quantity
    # every time, so the saga gives up at once instead of postponing until the deadline.
    item = product(runner, stock=20_000)
    order_id = unfinished_order(engines["orders"], item["id"], quantity=12_000)
    settled = wait_until_settled(runner, order_id, engines["orders"], timeout=10)
    assert (settled["status"], settled["cancel_reason"]) == ("cancelled", "rejected")
    with engines["orders"].connect() as conn:
        attempts = conn.execute(select(Order.attempts).where(Order.id == order_id)).scalar()
    assert attempts == 0  # never postponed
    assert stock_of(runner, item["id"]) == 20_000


def test_concurrent_cancels_answer_the_cancelled_order_or_409_never_a_mix(runner, config):
    item = product(runner, stock=40)
    user = user_id()
    orders = [
        place(runner, [{"product_id": item["id"], "quantity": 1}], user=user) for _ in range(8)
    ]
    assert {order["status"] for order in orders} == {"confirmed"}

    def cancel(order_id):
        with ServiceRpcProxy("orders", config, timeout=30) as proxy:
            try:
                answer = proxy.cancel_order(order_id, user)
            except OrderNotCancellable:
                return "409"
            return (answer["status"], answer["cancel_reason"])

    for order in orders:
        pool = eventlet.GreenPool(2)
        answers = list(pool.imap(cancel, [order["id"]] * 2))
        assert ("cancelled", "user_cancelled") in answers, answers
        assert set(answers) <= {("cancelled", "user_cancelled"), "409"}, answers
        assert payment(runner, order["id"])["status"] == "refunded"
    assert stock_of(runner, item["id"]) == 40


def payment_token_of(engine, order_id):
    with engine.connect() as conn:
        return conn.execute(select(Order.payment_token).where(Order.id == order_id)).scalar_one()


def test_the_payment_token_is_kept_only_while_a_charge_may_come(runner_factory, config, engines):
    orders_only = runner_factory({**config, "SAGA_SYNC_BUDGET": 0.3}, OrdersService)
    orders_only.start()  # neither products nor payments answers: the order waits
    pending = place(orders_only, [{"product_id": 1, "quantity": 1}], token="tok_visa_waiting")
    assert pending["status"] == "pending"
    assert payment_token_of(engines["orders"], pending["id"]) == "tok_visa_waiting"
    orders_only.stop()

    runner = runner_factory(config, OrdersService, ProductsService, PaymentsService)
    runner.start()
    item = product(runner, stock=5)
    confirmed = place(runner, [{"product_id": item["id"], "quantity": 1}])
    declined = place(runner, [{"product_id": item["id"], "quantity": 1}], token="tok_decline")
    out_of_stock = place(runner, [{"product_id": item["id"], "quantity": 9}])
    for order, status in (
        (confirmed, "confirmed"),
        (declined, "cancelled"),
        (out_of_stock, "cancelled"),
    ):
        assert order["status"] == status
        assert payment_token_of(engines["orders"], order["id"]) is None


def test_sales_are_projected_from_events_and_rebuilt_from_orders(runner, engines, config):
    item = product(runner, stock=10, price_cents=300)
    user = user_id()
    today = datetime.now(UTC).date().isoformat()
    orders = runner.service_map["orders"]

    def row():
        report = call(runner, "orders", "sales_report", today, today)
        return [r for r in report["items"] if r["product_id"] == item["id"]]

    def projected(event_type):
        """Wait for this user's next event of ``event_type`` to be projected."""
        return entrypoint_waiter(
            orders,
            f"project_{event_type}",
            callback=lambda ctx, result, exc: ctx.args[0]["user_id"] == user,
            timeout=10,
        )

    with projected("order_confirmed"):
        first = place(runner, [{"product_id": item["id"], "quantity": 2}], user=user)
    assert row() == [{"day": today, "product_id": item["id"], "units": 2, "revenue_cents": 600}]
    with projected("order_cancelled"):
        call(runner, "orders", "cancel_order", first["id"], user)
    assert row() == []
    with projected("order_confirmed"):
        second = place(runner, [{"product_id": item["id"], "quantity": 1}], user=user)
    # A duplicate delivery changes nothing.
    with engines["orders"].connect() as conn:
        (payload,) = conn.execute(
            text(
                "SELECT payload FROM outbox WHERE payload->>'order_id' = :id"
                " AND event_type = 'order_confirmed'"
            ),
            {"id": second["id"]},
        ).one()
    with projected("order_confirmed"):
        event_dispatcher(config)("orders", "order_confirmed", payload)
    expected = [{"day": today, "product_id": item["id"], "units": 1, "revenue_cents": 300}]
    assert row() == expected
    # The read model can be rebuilt from the orders table alone, with the same answer.
    with Session(engines["orders"]) as session, session.begin():
        sales.rebuild(session)
    assert row() == expected
