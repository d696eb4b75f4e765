"""Every event has one contract and one source, every handler listens for a declared event,
and every consumer accepts an event built by its producer's contract."""

import inspect

import pytest
from nameko.testing.services import worker_factory

from chassis.contracts import events
from chassis.inbox import ReliableEventHandler
from notifications.service import NotificationsService
from orders.service import OrdersService
from users.service import UsersService

CONSUMERS = (NotificationsService, OrdersService, UsersService)

ITEMS = [{"product_id": 3, "quantity": 2, "price_cents": 1250}]
EXAMPLES = {
    events.USER_REGISTERED: {
        "user_id": 7,
        "email": "ada@example.com",
        "name": "Ada",
        "role": "customer",
    },
    events.ORDER_CREATED: {"order_id": "o-1", "user_id": 7, "items": ITEMS, "total_cents": 2500},
    events.ORDER_CONFIRMED: {
        "order_id": "o-1",
        "user_id": 7,
        "items": ITEMS,
        "total_cents": 2500,
        "confirmed_at": "2026-11-25T10:00:00+00:00",
    },
    events.ORDER_CANCELLED: {
        "order_id": "o-1",
        "user_id": 7,
        "items": ITEMS,
        "total_cents": 2500,
        "reason": "user_cancelled",
        "confirmed_at": "2026-11-25T10:00:00+00:00",
    },
    events.PAYMENT_SUCCEEDED: {
        "order_id": "o-1",
        "user_id": 7,
        "amount_cents": 2500,
        "provider_ref": "ch_1",
    },
    events.PAYMENT_DECLINED: {
        "order_id": "o-1",
        "user_id": 7,
        "amount_cents": 2500,
        "reason": "card_declined",
    },
    events.PAYMENT_FAILED: {
        "order_id": "o-1",
        "user_id": None,
        "amount_cents": 2500,
        "reason": "provider error",
    },
    events.PAYMENT_REFUNDED: {"order_id": "o-1", "user_id": 7, "amount_cents": 2500},
}


def handlers():
    for service in CONSUMERS:
        for name, method in inspect.getmembers(service, inspect.isfunction):
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                if isinstance(entrypoint, ReliableEventHandler):
                    yield service, name, entrypoint


def test_every_event_has_a_contract_and_a_source():
    assert set(events.SCHEMAS) == set(events.SOURCES) == set(EXAMPLES)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_every_example_keeps_its_contract(event_type):
    event = events.make_event(event_type, **EXAMPLES[event_type])
    assert events.parse_event(event_type, event) == event
    # A newer producer may add fields: an older consumer ignores them.
    assert events.parse_event(event_type, {**event, "added_later": 1}) == event


def test_every_handler_listens_for_a_declared_event_of_its_source():
    found = list(handlers())
    assert len(found) >= 6
    for service, name, entrypoint in found:
        assert entrypoint.event_type in events.SCHEMAS, (service.name, name)
        assert entrypoint.source_service == events.SOURCES[entrypoint.event_type], name


@pytest.mark.parametrize(
    ("service", "method", "event_type"),
    [(s, name, e.event_type) for s, name, e in handlers()],
    ids=lambda value: getattr(value, "name", value),
)
def test_every_consumer_accepts_what_its_producer_sends(service, method, event_type):
    worker = worker_factory(service)
    event = events.make_event(event_type, **EXAMPLES[event_type])
    getattr(worker, method)(event)  # raises if the handler reads a field the contract lacks
    assert worker.inbox.first_delivery.called
