import pytest
from nameko.testing.services import worker_factory

from chassis.errors import InvalidInput
from chassis.testing import FakeStore
from orders.service import OrdersService
from orders.settings import OrdersSettings
from tests.unit.orders.fakes import InMemoryOrders


@pytest.fixture
def service():
    return worker_factory(
        OrdersService,
        store=FakeStore(InMemoryOrders()),
        settings=OrdersSettings(saga_sync_budget=1),
    )


def test_create_order_refuses_bad_input_before_touching_anything(service):
    with pytest.raises(InvalidInput) as caught:
        service.create_order("7", [{"product_id": 0, "quantity": 0}], "", "k" * 256)
    assert set(caught.value.fields) == {"user_id", "items", "payment_token", "idempotency_key"}
    assert caught.value.fields["items"] == {
        0: {
            "product_id": [
                "Must be greater than or equal to 1 and less than or equal to 2147483647."
            ],
            "quantity": ["Must be greater than or equal to 1 and less than or equal to 10000."],
        }
    }
    assert service.store.transactions == 0
    assert not service.products_rpc.reserve_stock.called


def test_an_empty_order_is_refused(service):
    with pytest.raises(InvalidInput) as caught:
        service.create_order(7, [], "tok_visa")
    assert set(caught.value.fields) == {"items"}


def test_listing_and_cancelling_need_valid_ids(service):
    with pytest.raises(InvalidInput) as caught:
        service.list_orders(7, -1, 101)
    assert set(caught.value.fields) == {"offset", "limit"}
    with pytest.raises(InvalidInput) as caught:
        service.cancel_order("x" * 65, "7")
    assert set(caught.value.fields) == {"order_id", "user_id"}
    assert service.store.transactions == 0


def test_the_sales_report_wants_an_ordered_range_of_dates(service):
    with pytest.raises(InvalidInput) as caught:
        service.sales_report("2026-02-01", "2026-01-01")
    assert set(caught.value.fields) == {"date_to"}
    with pytest.raises(InvalidInput) as caught:
        service.sales_report("yesterday", "2026-01-01")
    assert set(caught.value.fields) == {"date_from"}
