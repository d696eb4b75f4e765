import pytest
from nameko.testing.services import worker_factory

from chassis.errors import InvalidInput
from chassis.testing import FakeStore
from products.domain import MAX_SEARCH_WORDS, search_words
from products.exceptions import DuplicateSku, OutOfStock, ProductNotFound
from products.models import Product
from products.service import ProductsService
from tests.unit.products.fakes import InMemoryProducts


def product(id, stock, sku=None, price_cents=500):
    sku = sku or f"SKU-{id}"
    return Product(id=id, sku=sku, name=sku, description="", price_cents=price_cents, stock=stock)


@pytest.fixture
def products():
    return InMemoryProducts(product(1, stock=5, price_cents=900), product(2, stock=1))


@pytest.fixture
def store(products):
    return FakeStore(products)


@pytest.fixture
def service(store):
    service = worker_factory(ProductsService, store=store)
    service.cache.get_json.return_value = None  # nothing cached, unless a test says so
    return service


def test_a_cached_product_is_served_without_the_database(service, store):
    service.cache.get_json.return_value = {"id": 3, "stock": 5}
    assert service.get_product(3) == {"id": 3, "stock": 5}
    service.cache.get_json.assert_called_once_with(3)
    assert store.transactions == 0


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        ([{"product_id": 1, "quantity": 0}], "items"),
        ([{"product_id": "1", "quantity": 1}], "items"),
        ([{"product_id": 1}], "items"),
    ],
)
def test_reserve_refuses_bad_items_before_touching_stock(service, store, items, field):
    with pytest.raises(InvalidInput) as caught:
        service.reserve_stock("order-1", items)
    assert field in caught.value.fields
    assert store.transactions == 0


def test_reserve_needs_an_order_id(service):
    with pytest.raises(InvalidInput) as caught:
        service.reserve_stock("", [{"product_id": 1, "quantity": 1}])
    assert "order_id" in caught.value.fields


def test_list_caps_the_page_size(service):
    with pytest.raises(InvalidInput) as caught:
        service.list_products(0, 101)
    assert "limit" in caught.value.fields


def test_get_products_reads_cached_ones_from_redis_and_the_rest_in_one_select(service, products):
    mug = {"id": 1, "sku": "MUG", "name": "Mug", "description": "", "price_cents": 900, "stock": 4}
    service.cache.get_json.side_effect = lambda product_id: mug if product_id == 1 else None
    service.cache.versions.return_value = ["3", ""]
    result = service.get_products([2, 1, 9, 2])
    assert [item["id"] for item in result["items"]] == [2, 1]
    assert result["items"][1] == mug
    assert products.asked == [[2, 9]]  # one read, of the uncached ones, once each
    # Stored under the version read before the load (so not if invalidated meanwhile).
    service.cache.versions.assert_called_once_with(2, 9)
    service.cache.fill.assert_called_once_with(2, result["items"][0], "3")


def test_get_products_served_from_the_cache_skips_the_database(service, store):
    service.cache.get_json.side_effect = lambda product_id: {"id": product_id, "name": "x"}
    assert service.get_products([3, 4]) == {
        "items": [{"id": 3, "name": "x"}, {"id": 4, "name": "x"}]
    }
    assert store.transactions == 0


@pytest.mark.parametrize("product_ids", [[], [0], ["1"], [1.5], list(range(1, 102)), None, "1,2"])
def test_get_products_refuses_bad_ids_before_any_read(service, store, product_ids):
    with pytest.raises(InvalidInput) as caught:
        service.get_products(product_ids)
    assert "product_ids" in caught.value.fields
    assert not service.cache.get_json.called
    assert store.transactions == 0


def test_a_taken_sku_is_a_duplicate(service):
    new = {"sku": "SKU-1", "name": "Another", "price_cents": 100, "stock": 1}
    with pytest.raises(DuplicateSku) as caught:
        service.create_product(new)
    assert caught.value.fields == {"sku": ["Already exists."]}
    assert service.create_product({**new, "sku": "NEW"})["id"] == 3


def test_a_change_is_saved_and_its_cached_copy_dropped(service, products):
    assert service.update_product(1, {"stock": 7})["stock"] == 7
    assert products.rows[1].stock == 7
    service.cache.delete.assert_called_once_with(1)
    with pytest.raises(ProductNotFound):
        service.update_product(9, {"stock": 7})


@pytest.mark.parametrize("q", ["", " ", "x" * 101, 7])
def test_a_search_must_be_words(service, store, q):
    with pytest.raises(InvalidInput) as caught:
        service.list_products(0, 20, q)
    assert "q" in caught.value.fields
    assert store.transactions == 0


def test_a_search_lists_the_products_holding_every_word(service, products):
    products.rows[1].name = "Blue mug"
    products.rows[2].name = "Red mug"
    assert [item["id"] for item in service.list_products(0, 20, "MUG")["items"]] == [1, 2]
    page = service.list_products(0, 20, "mug  blue mug")
    assert ([item["id"] for item in page["items"]], page["total"]) == ([1], 1)
    assert service.list_products(0, 20, "sku-2")["items"][0]["id"] == 2  # by SKU too


def test_search_words_are_split_once_each_and_bounded():
    assert search_words(None) == []
    assert search_words("  blue   mug blue ") == ["blue", "mug"]
    assert len(search_words(" ".join(f"w{n}" for n in range(20)))) == MAX_SEARCH_WORDS


def test_the_list_is_one_page_in_id_order(service):
    page = service.list_products(1, 5)
    assert [item["id"] for item in page["items"]] == [2]
    assert (page["total"], page["offset"], page["limit"]) == (2, 1, 5)


def test_a_reservation_takes_the_summed_stock_once_per_order(service, products):
    items = [{"product_id": 1, "quantity": 2}, {"product_id": 1, "quantity": 1}]
    first = service.reserve_stock("o-1", items)
    assert first == {
        "order_id": "o-1",
        "status": "reserved",
        "items": [{"product_id": 1, "quantity": 3, "price_cents": 900}],
    }
    service.cache.delete.assert_called_once_with(1)
    assert service.reserve_stock("o-1", items) == first  # a repeat changes nothing
    assert products.rows[1].stock == 2


@pytest.mark.parametrize(
    ("items", "error", "fields"),
    [
        ([{"product_id": 9, "quantity": 1}], ProductNotFound, {"9": ["Unknown product."]}),
        (
            [{"product_id": 2, "quantity": 2}, {"product_id": 9, "quantity": 1}],
            OutOfStock,
            {"2": ["Only 1 in stock, 2 requested."], "9": ["Unknown product."]},
        ),
    ],
)
def test_a_short_order_gets_nothing_and_the_error_says_why(
    service, store, products, items, error, fields
):
    with pytest.raises(error) as caught:
        service.reserve_stock("o-1", [{"product_id": 1, "quantity": 1}, *items])
    assert caught.value.fields == {"items": fields}
    assert store.rolled_back == 1
    assert products.rows[1].stock == 5
    assert not service.cache.delete.called


def test_a_release_gives_the_stock_back_once(service, products):
    service.reserve_stock("o-1", [{"product_id": 1, "quantity": 4}])
    service.cache.delete.reset_mock()
    assert service.release_stock("o-1")["status"] == "released"
    service.cache.delete.assert_called_once_with(1)
    assert service.release_stock("o-1")["status"] == "released"
    assert products.rows[1].stock == 5


def test_a_reservation_after_its_release_is_refused(service, products):
    assert service.release_stock("o-2") == {"order_id": "o-2", "status": "released", "items": []}
    assert service.reserve_stock("o-2", [{"product_id": 1, "quantity": 1}])["status"] == "released"
    assert products.rows[1].stock == 5
