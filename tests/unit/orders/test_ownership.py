"""Orders re-checks that the user the gateway acts for owns the order it reads or cancels."""

import pytest
from nameko.testing.services import worker_factory

from orders.exceptions import OrderNotFound
from orders.models import Order
from orders.service import OrdersService


@pytest.fixture
def service():
    service = worker_factory(OrdersService, config={"SAGA_SYNC_BUDGET": 1})
    order = Order(id="0a1b", user_id=7, status="confirmed", step="done", cancel_reason=None)
    service.db.get_session.return_value.__enter__.return_value.get.return_value = order
    return service


def session_of(service):
    return service.db.get_session.return_value.__enter__.return_value


def test_someone_elses_order_reads_as_missing(service):
    with pytest.raises(OrderNotFound) as caught:
        service.get_order("0a1b", 8)
    assert caught.value.fields == {"order_id": ["Not found."]}


def test_someone_elses_order_is_not_cancelled(service):
    with pytest.raises(OrderNotFound):
        service.cancel_order("0a1b", 8)
    assert not session_of(service).execute.called  # no step moved
    assert not service.payments_rpc.refund.called


def test_cancelling_needs_the_owners_id(service):
    with pytest.raises(OrderNotFound) as caught:
        service.cancel_order("0a1b", None)
    assert caught.value.fields == {"user_id": ["Required."]}
    assert not service.db.get_session.called
