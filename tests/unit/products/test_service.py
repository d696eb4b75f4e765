import pytest
from nameko.testing.services import worker_factory

from chassis.errors import InvalidInput
from products.service import ProductsService


def test_a_cached_product_is_served_without_the_database():
    service = worker_factory(ProductsService)
    service.cache.get_json.return_value = {"id": 3, "stock": 5}
    assert service.get_product(3) == {"id": 3, "stock": 5}
    service.cache.get_json.assert_called_once_with(3)
    assert not service.db.get_session.called


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        ([{"product_id": 1, "quantity": 0}], "items"),
        ([{"product_id": "1", "quantity": 1}], "items"),
        ([{"product_id": 1}], "items"),
    ],
)
def test_reserve_refuses_bad_items_before_touching_stock(items, field):
    service = worker_factory(ProductsService)
    with pytest.raises(InvalidInput) as caught:
        service.reserve_stock("order-1", items)
    assert field in caught.value.fields
    assert not service.db.get_session.called


def test_reserve_needs_an_order_id():
    service = worker_factory(ProductsService)
    with pytest.raises(InvalidInput) as caught:
        service.reserve_stock("", [{"product_id": 1, "quantity": 1}])
    assert "order_id" in caught.value.fields


def test_list_caps_the_page_size():
    service = worker_factory(ProductsService)
    with pytest.raises(InvalidInput) as caught:
        service.list_products(0, 101)
    assert "limit" in caught.value.fields
