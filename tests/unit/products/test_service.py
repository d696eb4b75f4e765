import pytest
from nameko.testing.services import worker_factory

from chassis.errors import InvalidInput
from products.models import Product
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


def _session(service):
    return service.db.get_session.return_value.__enter__.return_value


def test_get_products_reads_cached_ones_from_redis_and_the_rest_in_one_select():
    service = worker_factory(ProductsService)
    mug = {"id": 1, "sku": "MUG", "name": "Mug", "description": "", "price_cents": 900, "stock": 4}
    service.cache.get_json.side_effect = lambda product_id: mug if product_id == 1 else None
    service.cache.versions.return_value = ["3", ""]
    _session(service).scalars.return_value = [
        Product(id=2, sku="CUP", name="Cup", description="", price_cents=500, stock=1)
    ]
    result = service.get_products([2, 1, 9, 2])
    assert [item["id"] for item in result["items"]] == [2, 1]
    assert result["items"][1] == mug
    assert _session(service).scalars.call_count == 1
    select_ = _session(service).scalars.call_args.args[0]
    assert list(select_.compile().params.values()) == [[2, 9]]  # the uncached ones, once each
    # Stored under the version read before the load (so not if invalidated meanwhile).
    service.cache.versions.assert_called_once_with(2, 9)
    service.cache.fill.assert_called_once_with(2, result["items"][0], "3")


def test_get_products_served_from_the_cache_skips_the_database():
    service = worker_factory(ProductsService)
    service.cache.get_json.side_effect = lambda product_id: {"id": product_id, "name": "x"}
    assert service.get_products([3, 4]) == {
        "items": [{"id": 3, "name": "x"}, {"id": 4, "name": "x"}]
    }
    assert not service.db.get_session.called


@pytest.mark.parametrize("product_ids", [[], [0], ["1"], [1.5], list(range(1, 102)), None, "1,2"])
def test_get_products_refuses_bad_ids_before_any_read(product_ids):
    service = worker_factory(ProductsService)
    with pytest.raises(InvalidInput) as caught:
        service.get_products(product_ids)
    assert "product_ids" in caught.value.fields
    assert not service.cache.get_json.called
    assert not service.db.get_session.called
