"""Orders re-checks that the user the gateway acts for owns the order it reads or cancels."""

from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory

from chassis.testing import FakeStore
from orders import domain
from orders.exceptions import OrderNotFound
from orders.service import OrdersService
from orders.settings import OrdersSettings
from tests.unit.orders.fakes import InMemoryOrders

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def service():
    orders = InMemoryOrders()
    order = domain.Order.place("0a1b", 7, [{"product_id": 1, "quantity": 1}], "t", NOW)
    order.step, order.status = "done", "confirmed"
    orders.add(order, None, "fp", None)
    return worker_factory(
        OrdersService, store=FakeStore(orders), settings=OrdersSettings(saga_sync_budget=1)
    )


def test_someone_elses_order_reads_as_missing(service):
    with pytest.raises(OrderNotFound) as caught:
        service.get_order("0a1b", 8)
    assert caught.value.fields == {"order_id": ["Not found."]}


def test_someone_elses_order_is_not_cancelled(service):
    with pytest.raises(OrderNotFound):
        service.cancel_order("0a1b", 8)
    order = service.store.repository.get("0a1b")
    assert (order.step, order.status) == ("done", "confirmed")  # no step moved
    assert not service.payments_rpc.refund.called


def test_cancelling_needs_the_owners_id(service):
    with pytest.raises(OrderNotFound) as caught:
        service.cancel_order("0a1b", None)
    assert caught.value.fields == {"user_id": ["Required."]}
    assert service.store.transactions == 0
