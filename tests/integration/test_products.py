import uuid

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook
from sqlalchemy import create_engine, text

from chassis.errors import InvalidInput
from products.exceptions import DuplicateSku, OutOfStock, ProductNotFound
from products.service import ProductsService


def unique_sku() -> str:
    return f"T-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def products(container_factory, service_config):
    container = container_factory(ProductsService, service_config)
    container.start()
    return container


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def new_product(container, stock=10, price_cents=500):
    return call(
        container,
        "create_product",
        {"sku": unique_sku(), "name": "Test product", "price_cents": price_cents, "stock": stock},
    )


def test_create_get_list_and_update(products, redis_client):
    created = new_product(products, stock=3)
    assert created["stock"] == 3 and created["description"] == ""
    assert call(products, "get_product", created["id"]) == created
    page = call(products, "list_products", 0, 100)
    assert page["total"] >= 1 and page["limit"] == 100
    updated = call(products, "update_product", created["id"], {"price_cents": 650, "stock": 7})
    assert updated == {**created, "price_cents": 650, "stock": 7}
    assert call(products, "get_product", created["id"]) == updated


def test_reads_are_cached_and_every_change_invalidates(products, redis_client):
    product = new_product(products, stock=5)
    key = f"products:v1:{product['id']}"
    assert redis_client.get(key) is None
    call(products, "get_product", product["id"])
    assert redis_client.get(key) is not None
    call(products, "update_product", product["id"], {"name": "Renamed"})
    assert redis_client.get(key) is None
    call(products, "get_product", product["id"])
    call(
        products, "reserve_stock", uuid.uuid4().hex, [{"product_id": product["id"], "quantity": 2}]
    )
    assert redis_client.get(key) is None
    assert call(products, "get_product", product["id"])["stock"] == 3


def test_duplicate_sku_and_unknown_product_are_typed_errors(products):
    product = new_product(products)
    with pytest.raises(DuplicateSku):
        call(products, "create_product", {"sku": product["sku"], "name": "x", "price_cents": 1})
    with pytest.raises(ProductNotFound):
        call(products, "get_product", 2_000_000_000)
    with pytest.raises(ProductNotFound):
        call(products, "update_product", 2_000_000_000, {"name": "x"})
    with pytest.raises(InvalidInput):
        call(products, "create_product", {"sku": "bad sku!", "name": "x", "price_cents": 1})


def test_fifty_concurrent_orders_for_ten_in_stock_get_exactly_ten(products, service_config):
    product = new_product(products, stock=10)
    items = [{"product_id": product["id"], "quantity": 1}]
    order_ids = [f"order-{uuid.uuid4().hex}" for _ in range(50)]

    def reserve(order_id):
        # Each caller has its own client: fifty real RPC round trips through the broker.
        with ServiceRpcProxy("products", service_config, timeout=30) as rpc:
            try:
                return order_id, rpc.reserve_stock(order_id, items)
            except OutOfStock:
                return order_id, "OutOfStock"

    results = dict(eventlet.GreenPool(50).imap(reserve, order_ids))
    reserved = {oid: r for oid, r in results.items() if isinstance(r, dict)}
    refused = [oid for oid, r in results.items() if r == "OutOfStock"]
    assert len(reserved) == 10
    assert len(refused) == 40
    assert call(products, "get_product", product["id"])["stock"] == 0

    # Replays change nothing: the same answer for the reserved, still no stock for the others.
    for order_id, first in reserved.items():
        assert call(products, "reserve_stock", order_id, items) == first
    for order_id in refused[:5]:
        with pytest.raises(OutOfStock):
            call(products, "reserve_stock", order_id, items)
    assert call(products, "get_product", product["id"])["stock"] == 0


def test_a_reservation_is_all_or_nothing_and_names_what_is_short(products):
    plenty = new_product(products, stock=5)
    scarce = new_product(products, stock=1)
    with pytest.raises(OutOfStock) as caught:
        call(
            products,
            "reserve_stock",
            uuid.uuid4().hex,
            [
                {"product_id": plenty["id"], "quantity": 2},
                {"product_id": scarce["id"], "quantity": 2},
            ],
        )
    assert caught.value.fields == {"items": {str(scarce["id"]): ["Only 1 in stock, 2 requested."]}}
    assert call(products, "get_product", plenty["id"])["stock"] == 5
    assert call(products, "get_product", scarce["id"])["stock"] == 1


def test_reservation_records_prices_and_merges_repeated_products(products):
    product = new_product(products, stock=5, price_cents=250)
    order_id = uuid.uuid4().hex
    result = call(
        products,
        "reserve_stock",
        order_id,
        [
            {"product_id": product["id"], "quantity": 1},
            {"product_id": product["id"], "quantity": 2},
        ],
    )
    assert result == {
        "order_id": order_id,
        "status": "reserved",
        "items": [{"product_id": product["id"], "quantity": 3, "price_cents": 250}],
    }
    assert call(products, "get_product", product["id"])["stock"] == 2


def test_unknown_products_cannot_be_reserved(products):
    with pytest.raises(ProductNotFound) as caught:
        call(products, "reserve_stock", "o-1", [{"product_id": 2_000_000_000, "quantity": 1}])
    assert caught.value.fields == {"items": {"2000000000": ["Unknown product."]}}


def test_release_gives_stock_back_once(products):
    product = new_product(products, stock=4)
    order_id = uuid.uuid4().hex
    call(products, "reserve_stock", order_id, [{"product_id": product["id"], "quantity": 3}])
    assert call(products, "get_product", product["id"])["stock"] == 1
    first = call(products, "release_stock", order_id)
    assert first["status"] == "released"
    assert call(products, "get_product", product["id"])["stock"] == 4
    assert call(products, "release_stock", order_id) == first
    assert call(products, "get_product", product["id"])["stock"] == 4


def test_a_reservation_arriving_after_its_release_takes_nothing(products):
    product = new_product(products, stock=4)
    order_id = uuid.uuid4().hex
    assert call(products, "release_stock", order_id)["status"] == "released"
    late = call(products, "reserve_stock", order_id, [{"product_id": product["id"], "quantity": 2}])
    assert late == {"order_id": order_id, "status": "released", "items": []}
    assert call(products, "get_product", product["id"])["stock"] == 4


def test_get_products_returns_those_that_exist_and_caches_them(products, redis_client):
    first = new_product(products)
    second = new_product(products)
    keys = [f"products:v1:{first['id']}", f"products:v1:{second['id']}"]
    call(products, "get_product", first["id"])  # one cached already, one not
    assert redis_client.get(keys[1]) is None

    ids = [second["id"], 2_000_000_000, first["id"], second["id"]]
    assert call(products, "get_products", ids) == {"items": [second, first]}
    assert redis_client.get(keys[1]) is not None
    assert call(products, "get_products", ids) == {"items": [second, first]}

    call(products, "update_product", second["id"], {"name": "Renamed"})
    renamed = call(products, "get_products", [second["id"]])["items"]
    assert renamed == [{**second, "name": "Renamed"}]
    assert call(products, "get_products", [2_000_000_000, 3_000_000_000]) == {"items": []}
    with pytest.raises(InvalidInput):
        call(products, "get_products", [])


def test_a_search_finds_every_word_in_the_name_or_the_sku_and_pages(products, service_config):
    def make(sku, name):
        product = {"sku": sku, "name": name, "price_cents": 100, "stock": 1}
        return call(products, "create_product", product)

    def ids(page):
        return [item["id"] for item in page["items"]]

    token = uuid.uuid4().hex[:10]
    blue = make(f"BLU-{token}", f"Blue mug {token}")
    red = make(f"RED-{token}", f"Red MUG {token}")
    odd = make(f"ODD-{token}", f"100% cotton_{token}")

    assert ids(call(products, "list_products", 0, 20, f"mug {token}")) == [blue["id"], red["id"]]
    assert ids(call(products, "list_products", 0, 20, f"{token.upper()} blue")) == [blue["id"]]
    assert ids(call(products, "list_products", 0, 20, f"red-{token}")) == [red["id"]]  # by SKU
    page = call(products, "list_products", 1, 1, token)
    assert (ids(page), page["total"]) == ([red["id"]], 3)
    # LIKE's wildcards are taken as the characters they are.
    assert ids(call(products, "list_products", 0, 20, f"% {token}")) == [odd["id"]]
    assert ids(call(products, "list_products", 0, 20, f"n_{token}")) == [odd["id"]]
    assert ids(call(products, "list_products", 0, 20, f"o_t {token}")) == []


def test_the_search_is_served_by_trigram_indexes(databases):
    engine = create_engine(databases["products"])
    try:
        with engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(
                conn.scalars(
                    text(
                        "EXPLAIN SELECT id FROM products "
                        "WHERE name ILIKE '%blue mug%' OR sku ILIKE '%blue mug%'"
                    )
                )
            )
    finally:
        engine.dispose()
    assert "products_name_trgm" in plan and "products_sku_trgm" in plan
