"""The saga as a driver: it calls products and payments, and records what the order model
decided, through an in-memory repository and scripted RPC proxies."""

import copy
import time
from datetime import UTC, datetime, timedelta

import pytest

from chassis.contracts.errors import InvalidInput, OutOfStock, ProductNotFound
from chassis.resilience import CallTimeout
from chassis.testing import FakeStore
from orders import domain
from orders.exceptions import OrderRejected, UnknownProduct
from orders.saga import Saga
from tests.unit.orders.fakes import InMemoryOrders, Outbox, Proxy

LINES = [{"product_id": 2, "quantity": 3}]
RESERVED = {"status": "reserved", "items": [{"product_id": 2, "quantity": 3, "price_cents": 250}]}


def saga(orders, products, payments, deadline=120.0):
    return Saga(
        FakeStore(orders), Outbox(), products, payments, call_timeout=1.0, deadline=deadline
    )


def new_order(orders, created_at=None):
    order = domain.Order.place(
        "o-1", 7, LINES, "tok_visa", created_at=created_at or datetime.now(UTC)
    )
    orders.add(order, None, "fp", None)
    return order


def events(orders):
    return [event_type for event_type, _ in orders.session.events]


def test_an_order_is_reserved_charged_and_confirmed():
    orders = InMemoryOrders()
    products = Proxy(reserve_stock=RESERVED)
    payments = Proxy(charge={"status": "approved"})
    result = saga(orders, products, payments).run("o-1", order=new_order(orders))
    assert (result.status, result.total_cents) == ("confirmed", 750)
    assert orders.get("o-1").status == "confirmed"
    assert events(orders) == ["order_created", "order_confirmed"]
    ((_, args, kwargs),) = payments.calls
    assert args == ("o-1", 750, "tok_visa") and kwargs == {"user_id": 7}
    # The reservation and the charge's outcome are written together, in one transition.
    assert orders.written == [("reserve", "done")]


@pytest.mark.parametrize(
    ("refusal", "reason"),
    [(OutOfStock("Not enough stock"), "out_of_stock"), (ProductNotFound("?"), "unknown_product")],
)
def test_a_refused_reservation_is_compensated(refusal, reason):
    orders = InMemoryOrders()
    products = Proxy(reserve_stock=refusal, release_stock={"status": "released"})
    payments = Proxy(refund={"status": "voided"})
    new_order(orders)
    result = saga(orders, products, payments).run("o-1")  # by the recovery loop
    assert (result.status, result.cancel_reason) == ("cancelled", reason)
    assert products.called("release_stock") == payments.called("refund") == 1
    assert events(orders) == ["order_cancelled"]


def test_an_unknown_product_while_the_client_waits_leaves_no_order_and_names_it():
    orders = InMemoryOrders()
    items = {"items": {"9": ["Unknown product."]}}
    products = Proxy(reserve_stock=ProductNotFound("Unknown product", items))
    with pytest.raises(UnknownProduct) as caught:
        saga(orders, products, Proxy()).run("o-1", placing=True, order=new_order(orders))
    assert caught.value.fields == items  # from the refusal itself: no second call
    assert products.called("reserve_stock") == 1 and len(products.calls) == 1
    assert orders.get("o-1") is None


def test_items_refused_as_invalid_are_final():
    orders = InMemoryOrders()
    products = Proxy(reserve_stock=InvalidInput("bad", {"items": ["x"]}))
    with pytest.raises(OrderRejected):
        saga(orders, products, Proxy()).run("o-1", placing=True, order=new_order(orders))
    assert orders.get("o-1") is None


@pytest.mark.parametrize(
    ("answer", "reason"), [("declined", "payment_declined"), ("failed", "payment_failed")]
)
def test_a_refused_charge_gives_the_stock_back(answer, reason):
    orders = InMemoryOrders()
    products = Proxy(reserve_stock=RESERVED, release_stock={"status": "released"})
    payments = Proxy(charge={"status": answer}, refund={"status": "voided"})
    result = saga(orders, products, payments).run("o-1", order=new_order(orders))
    assert (result.status, result.cancel_reason) == ("cancelled", reason)
    assert products.called("release_stock") == 1
    assert events(orders) == ["order_created", "order_cancelled"]


def test_a_call_that_cannot_be_answered_now_leaves_the_order_for_later():
    orders = InMemoryOrders()
    products = Proxy(reserve_stock=RESERVED)
    payments = Proxy(charge=CallTimeout("charge did not answer"))
    result = saga(orders, products, payments).run("o-1", order=new_order(orders))
    assert (result.step, result.status) == ("charge", "pending")
    assert orders.postponed == ["o-1"]
    assert events(orders) == ["order_created"]
    # The reservation is kept, priced, for the recovery loop's charge.
    assert orders.written == [("reserve", "charge")]
    assert orders.get("o-1").total_cents == 750


def test_a_driver_that_crashed_between_reservation_and_charge_makes_both_calls_again():
    # Nothing was written after the order was placed: the next driver reserves and charges
    # again, and both services answer what they answered the first time.
    orders = InMemoryOrders()
    placed = copy.deepcopy(new_order(orders))
    products = Proxy(reserve_stock=RESERVED)
    payments = Proxy(charge={"status": "approved"})
    for _ in range(2):
        orders.rows["o-1"] = copy.deepcopy(placed)  # the first driver's outcome never written
        result = saga(orders, products, payments).run("o-1")
        assert result.status == "confirmed"
    assert products.called("reserve_stock") == payments.called("charge") == 2
    assert {call[1] for call in payments.calls} == {("o-1", 750, "tok_visa")}


def test_a_budget_spent_on_the_reservation_records_it_and_leaves_the_charge():
    orders = InMemoryOrders()

    def slow_reservation(*args, **kwargs):
        time.sleep(0.26)  # within its own timeout, but it leaves no time for the charge
        return RESERVED

    products = Proxy(reserve_stock=slow_reservation)
    payments = Proxy(charge={"status": "approved"})
    result = saga(orders, products, payments).run("o-1", budget=0.3, order=new_order(orders))
    assert (result.step, result.status) == ("charge", "pending")
    assert payments.calls == [] and orders.written == [("reserve", "charge")]


def test_an_order_past_its_deadline_is_given_up():
    orders = InMemoryOrders()
    new_order(orders, created_at=datetime.now(UTC) - timedelta(minutes=5))
    products = Proxy(release_stock={"status": "released"})
    payments = Proxy(refund={"status": "voided"})
    result = saga(orders, products, payments, deadline=60).run("o-1")
    assert (result.status, result.cancel_reason) == ("cancelled", "expired")
    assert products.called("release_stock") == 1


def test_an_outcome_another_driver_recorded_first_is_not_applied_twice():
    orders = InMemoryOrders()
    stale = new_order(orders)

    def charge_while_another_driver_finishes(*args, **kwargs):
        # Another instance took the same order to the end meanwhile.
        other = orders.get("o-1")
        came_from = other.reserved({2: 250})
        other.charge_answered("approved", datetime.now(UTC))
        orders.advance(other, came_from)
        return {"status": "approved"}

    products = Proxy(reserve_stock=RESERVED)
    payments = Proxy(charge=charge_while_another_driver_finishes)
    result = saga(orders, products, payments).run("o-1", order=stale)
    assert result.status == "confirmed"
    assert events(orders) == []  # the order's events are the other driver's
    assert orders.written == [("reserve", "done")]  # once, by the other driver
