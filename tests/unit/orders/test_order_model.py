"""The order model's transitions and refusals, as plain Python: no database, no broker."""

from datetime import UTC, datetime, timedelta

import pytest

from chassis.contracts.events import ORDER_CANCELLED, ORDER_CONFIRMED, ORDER_CREATED
from orders import domain
from orders.domain import Stage

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def placed(**changes) -> domain.Order:
    order = domain.Order.place(
        "o-1",
        7,
        [{"product_id": 2, "quantity": 3}, {"product_id": 5, "quantity": 1}],
        "tok_visa",
        created_at=NOW,
        request_id="r-1",
    )
    for name, value in changes.items():
        setattr(order, name, value)
    return order


def reserved() -> domain.Order:
    order = placed()
    order.reserved({2: 250, 5: 1000})
    order.events.clear()
    return order


def confirmed() -> domain.Order:
    order = reserved()
    order.charge_answered("approved", NOW)
    order.events.clear()
    return order


def test_a_placed_order_waits_for_its_reservation():
    order = placed()
    assert (order.step, order.status, order.total_cents) == ("reserve", "pending", None)
    assert [line.price_cents for line in order.lines] == [None, None]
    assert order.events == [] and not order.done


def test_a_reservation_prices_the_lines_and_announces_the_order():
    order = placed()
    assert order.reserved({2: 250, 5: 1000}) == Stage("reserve", "pending")
    assert (order.step, order.status) == ("charge", "pending")
    assert [line.price_cents for line in order.lines] == [250, 1000]
    assert order.total_cents == 1750
    ((event_type, payload),) = order.events
    assert event_type == ORDER_CREATED
    assert payload == {
        "order_id": "o-1",
        "user_id": 7,
        "items": [
            {"product_id": 2, "quantity": 3, "price_cents": 250},
            {"product_id": 5, "quantity": 1, "price_cents": 1000},
        ],
        "total_cents": 1750,
    }


@pytest.mark.parametrize(
    "reason", [domain.OUT_OF_STOCK, domain.UNKNOWN_PRODUCT, domain.REJECTED, domain.EXPIRED]
)
def test_a_refused_reservation_is_compensated_with_its_reason(reason):
    order = placed()
    assert order.refused(reason) == Stage("reserve", "pending")
    assert (order.step, order.status, order.cancel_reason) == ("compensate", "pending", reason)
    assert order.payment_token is None  # nothing will be charged from here on
    assert order.events == []


def test_an_approved_charge_confirms_the_order_and_drops_the_token():
    order = reserved()
    assert order.charge_answered("approved", NOW) == Stage("charge", "pending")
    assert (order.step, order.status, order.confirmed_at) == ("done", "confirmed", NOW)
    assert order.payment_token is None and order.done
    ((event_type, payload),) = order.events
    assert event_type == ORDER_CONFIRMED
    assert payload["confirmed_at"] == NOW.isoformat() and payload["total_cents"] == 1750


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("declined", domain.PAYMENT_DECLINED),
        ("failed", domain.PAYMENT_FAILED),
        ("voided", domain.EXPIRED),
    ],
)
def test_a_refused_charge_is_compensated_with_its_reason(answer, reason):
    order = reserved()
    assert order.charge_answered(answer, NOW) == Stage("charge", "pending")
    assert (order.step, order.cancel_reason, order.payment_token) == ("compensate", reason, None)


def test_a_charge_answer_the_saga_does_not_know_decides_nothing():
    order = reserved()
    with pytest.raises(domain.Undecided):
        order.charge_answered("pending", NOW)
    assert (order.step, order.status) == ("charge", "pending")


def test_an_order_not_confirmed_in_time_expires():
    deadline = timedelta(seconds=120)
    order = placed()
    assert not order.is_late(NOW + deadline, deadline)
    assert order.is_late(NOW + deadline + timedelta(seconds=1), deadline)
    assert reserved().is_late(NOW + timedelta(hours=1), deadline)
    assert not confirmed().is_late(NOW + timedelta(hours=1), deadline)  # done: nothing to expire
    assert order.expire() == Stage("reserve", "pending")
    assert (order.step, order.cancel_reason) == ("compensate", "expired")


def test_compensation_ends_the_order_cancelled_and_announces_it():
    order = placed()
    order.refused(domain.OUT_OF_STOCK)
    later = NOW + timedelta(seconds=5)
    assert order.compensated(later) == Stage("compensate", "pending")
    assert (order.step, order.status, order.cancelled_at) == ("done", "cancelled", later)
    ((event_type, payload),) = order.events
    assert event_type == ORDER_CANCELLED
    assert payload["reason"] == "out_of_stock" and payload["confirmed_at"] is None


def test_its_owner_cancels_a_confirmed_order_and_the_sale_is_taken_back():
    order = confirmed()
    assert order.cancel() == Stage("done", "confirmed")
    assert (order.step, order.status, order.cancel_reason) == (
        "compensate",
        "confirmed",
        "user_cancelled",
    )
    assert order.compensated(NOW) == Stage("compensate", "confirmed")
    ((event_type, payload),) = order.events
    assert payload["reason"] == "user_cancelled"
    assert payload["confirmed_at"] == NOW.isoformat()  # so the read model takes it back


@pytest.mark.parametrize(
    ("order", "status"),
    [
        (placed(), "pending"),
        (reserved(), "pending"),
        (placed(step="done", status="cancelled", cancel_reason="out_of_stock"), "cancelled"),
        (
            placed(step="compensate", status="confirmed", cancel_reason="user_cancelled"),
            "confirmed",
        ),
    ],
)
def test_only_a_settled_confirmed_order_can_be_cancelled(order, status):
    with pytest.raises(domain.NotCancellable) as refused:
        order.cancel()
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("order", "transition"),
    [
        (reserved(), lambda o: o.reserved({2: 1, 5: 1})),
        (placed(), lambda o: o.charge_answered("approved", NOW)),
        (confirmed(), lambda o: o.refused(domain.OUT_OF_STOCK)),
        (confirmed(), lambda o: o.compensated(NOW)),
        (placed(), lambda o: o.compensated(NOW)),
    ],
)
def test_a_transition_from_the_wrong_step_is_refused_and_changes_nothing(order, transition):
    before = (order.step, order.status, order.cancel_reason, order.total_cents)
    with pytest.raises(ValueError):
        transition(order)
    assert (order.step, order.status, order.cancel_reason, order.total_cents) == before
