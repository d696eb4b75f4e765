import pytest
from nameko.exceptions import RpcTimeout, UnknownService

from chassis.contracts.errors import (
    IdempotencyKeyReused,
    OrderNotCancellable,
    OrderNotFound,
    ProductNotFound,
    UnknownProduct,
)
from chassis.errors import InvalidInput
from gateway.rpc import PoolExhausted
from gateway.schemas import MAX_ID
from tests.unit.gateway.conftest import SETTINGS, bearer, remote

ORDER_ID = "5f0c1e9a-7b1d-4c1e-9a55-0e8b7f6c2d10"
ITEMS = [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 1}]
BODY = {"items": ITEMS, "payment_token": "tok_visa"}


def order(status="confirmed", user_id=1, order_id=ORDER_ID):
    return {
        "id": order_id,
        "user_id": user_id,
        "status": status,
        "cancel_reason": None,
        "items": [
            {"product_id": 1, "quantity": 2, "price_cents": 900},
            {"product_id": 2, "quantity": 1, "price_cents": 500},
            {"product_id": 1, "quantity": 1, "price_cents": 900},
        ],
        "total_cents": 3200,
        "created_at": "2024-05-01T10:00:00+00:00",
    }


def not_found(*args):
    raise remote(OrderNotFound(f"No order {args[0]}", {}))


@pytest.mark.parametrize(("status", "code"), [("confirmed", 201), ("cancelled", 201)])
def test_a_settled_order_is_201_with_its_location(client, rpc, status, code):
    rpc.on("orders", "create_order", lambda *args: order(status, user_id=args[0]))
    response = client.post("/api/v1/orders", json=BODY, headers=bearer(user_id=7))
    assert response.status_code == code
    assert response.headers["Location"] == f"/api/v1/orders/{ORDER_ID}"
    assert response.json == order(status, user_id=7)
    ((service, method, args, kwargs),) = rpc.calls
    assert (service, method, args[:3], kwargs) == (
        "orders",
        "create_order",
        (7, ITEMS, "tok_visa"),
        {},
    )
    assert args[3].startswith("gateway:")  # a key of its own, though the client sent none


def test_a_pending_order_is_202_accepted(client, rpc):
    rpc.on("orders", "create_order", lambda *args: order("pending"))
    response = client.post("/api/v1/orders", json=BODY, headers=bearer())
    assert response.status_code == 202
    assert response.json["status"] == "pending"
    assert response.headers["Location"] == f"/api/v1/orders/{ORDER_ID}"


def test_placing_an_order_needs_a_token(client, rpc):
    response = client.post("/api/v1/orders", json=BODY)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert rpc.calls == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payment_token": "tok"}, "items"),
        ({**BODY, "items": []}, "items"),
        ({**BODY, "items": [{"product_id": 1, "quantity": 1}] * 101}, "items"),
        ({**BODY, "items": [{"product_id": 0, "quantity": 1}]}, "items"),
        ({**BODY, "items": [{"product_id": MAX_ID + 1, "quantity": 1}]}, "items"),
        ({**BODY, "items": [{"product_id": "1", "quantity": 1}]}, "items"),
        ({**BODY, "items": [{"product_id": 1, "quantity": 0}]}, "items"),
        ({**BODY, "items": [{"product_id": 1, "quantity": 10_001}]}, "items"),
        ({**BODY, "items": [{"product_id": 1}]}, "items"),
        ({**BODY, "items": [{"product_id": 1, "quantity": 1, "price_cents": 1}]}, "items"),
        ({**BODY, "items": "1,2"}, "items"),
        ({"items": ITEMS}, "payment_token"),
        ({**BODY, "payment_token": "   "}, "payment_token"),
        ({**BODY, "payment_token": "t" * 101}, "payment_token"),
        ({**BODY, "payment_token": 42}, "payment_token"),
        ({**BODY, "user_id": 2}, "user_id"),
    ],
)
def test_a_bad_order_is_400_naming_the_field(client, rpc, body, field):
    response = client.post("/api/v1/orders", json=body, headers=bearer())
    assert response.status_code == 400
    assert response.json["error"] == "invalid_input"
    assert list(response.json["fields"]) == [field]
    assert rpc.calls == []


def test_the_largest_order_allowed_goes_through(client, rpc):
    rpc.on("orders", "create_order", lambda *args: order())
    items = [{"product_id": MAX_ID - n, "quantity": 10_000} for n in range(100)]
    body = {"items": items, "payment_token": "t" * 100}
    assert client.post("/api/v1/orders", json=body, headers=bearer()).status_code == 201


def test_lines_of_one_product_adding_up_past_the_bound_are_400_naming_the_line(client, rpc):
    items = [
        {"product_id": 7, "quantity": 6_000},
        {"product_id": 8, "quantity": 10_000},
        {"product_id": 7, "quantity": 4_000},  # 10,000 of product 7: the bound, allowed
        {"product_id": 7, "quantity": 1},  # 10,001: one too many
    ]
    body = {"items": items, "payment_token": "tok_visa"}
    response = client.post("/api/v1/orders", json=body, headers=bearer())
    assert response.status_code == 400
    assert response.json["fields"] == {
        "items": {"3": {"quantity": ["The lines of product 7 add up to more than 10000."]}}
    }
    assert rpc.calls == []


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (
            lambda: remote(
                UnknownProduct("Unknown product", {"items": {"9": ["Unknown product."]}})
            ),
            422,
            "unknown_product",
        ),
        (
            lambda: remote(IdempotencyKeyReused("Key used", {})),
            422,
            "idempotency_key_reused",
        ),
        (lambda: remote(InvalidInput("Invalid input", {"items": ["Bad."]})), 400, "invalid_input"),
        (lambda: RpcTimeout(5), 504, "timeout"),
    ],
)
def test_order_service_errors_map_to_http(client, rpc, make, status, code):
    def fail(*args):
        raise make()

    rpc.on("orders", "create_order", fail)
    response = client.post("/api/v1/orders", json=BODY, headers=bearer())
    assert response.status_code == status
    assert response.json["error"] == code
    if code == "unknown_product":
        assert response.json["fields"] == {"items": {"9": ["Unknown product."]}}


def test_list_is_the_callers_own_page(client, rpc):
    rpc.on(
        "orders",
        "list_orders",
        lambda user_id, offset, limit: {
            "items": [order(user_id=user_id)],
            "total": 1,
            "offset": offset,
            "limit": limit,
        },
    )
    response = client.get("/api/v1/orders?offset=3&limit=5", headers=bearer(user_id=7))
    assert response.status_code == 200
    assert response.json["items"][0]["user_id"] == 7
    assert rpc.calls == [("orders", "list_orders", (7, 3, 5), {})]
    assert client.get("/api/v1/orders?limit=5", headers=bearer()).status_code == 200
    assert rpc.calls[-1][2] == (1, 0, 5)


def test_list_needs_a_token_and_a_sane_page(client, rpc):
    assert client.get("/api/v1/orders").status_code == 401
    response = client.get("/api/v1/orders?limit=101", headers=bearer())
    assert response.status_code == 400
    assert list(response.json["fields"]) == ["limit"]
    assert rpc.calls == []


def products_named(*pairs):
    def get_products(product_ids):
        known = dict(pairs)
        return {"items": [{"id": i, "name": known[i]} for i in product_ids if i in known]}

    return get_products


def test_get_adds_product_names_fetched_once(client, rpc):
    rpc.on("orders", "get_order", lambda order_id, user_id: order(user_id=user_id))
    rpc.on("products", "get_products", products_named((1, "Mug"), (2, "Cup")))
    response = client.get(f"/api/v1/orders/{ORDER_ID}", headers=bearer(user_id=7))
    assert response.status_code == 200
    assert [item["name"] for item in response.json["items"]] == ["Mug", "Cup", "Mug"]
    assert response.json["items"][0] == {
        "product_id": 1,
        "quantity": 2,
        "price_cents": 900,
        "name": "Mug",
    }
    assert rpc.calls == [
        ("orders", "get_order", (ORDER_ID, 7), {}),
        ("products", "get_products", ([1, 2],), {}),
    ]
    assert rpc.timeouts[("products", "get_products")] == SETTINGS.optional_rpc_timeout


def test_a_product_that_is_gone_leaves_its_item_without_a_name(client, rpc):
    rpc.on("orders", "get_order", lambda order_id, user_id: order())
    rpc.on("products", "get_products", products_named((2, "Cup")))
    items = client.get(f"/api/v1/orders/{ORDER_ID}", headers=bearer()).json["items"]
    assert ["name" in item for item in items] == [False, True, False]


@pytest.mark.parametrize(
    "make",
    [
        lambda: RpcTimeout(1),
        lambda: UnknownService("products"),
        PoolExhausted,
        ConnectionRefusedError,
        lambda: remote(ProductNotFound("No product", {})),
        lambda: remote(InvalidInput("Invalid input", {"product_ids": ["Bad."]})),
        lambda: RuntimeError("anything else"),
    ],
)
def test_get_without_the_products_service_answers_without_names(client, rpc, make):
    def fail(product_ids):
        raise make()

    rpc.on("orders", "get_order", lambda order_id, user_id: order())
    rpc.on("products", "get_products", fail)
    response = client.get(f"/api/v1/orders/{ORDER_ID}", headers=bearer())
    assert response.status_code == 200
    assert response.json == order()


def test_another_users_order_is_404(client, rpc):
    rpc.on("orders", "get_order", not_found)
    response = client.get(f"/api/v1/orders/{ORDER_ID}", headers=bearer(user_id=8))
    assert response.status_code == 404
    assert response.json["error"] == "order_not_found"
    assert rpc.calls == [("orders", "get_order", (ORDER_ID, 8), {})]


@pytest.mark.parametrize("order_id", ["ABC", "x1", "a" * 65, "1%20or%201", "%2e%2e"])
def test_a_malformed_order_id_is_404_without_a_call(client, rpc, order_id):
    for response in (
        client.get(f"/api/v1/orders/{order_id}", headers=bearer()),
        client.post(f"/api/v1/orders/{order_id}/cancel", headers=bearer()),
    ):
        assert response.status_code == 404
        assert response.json["error"] in ("order_not_found", "not_found")
    assert rpc.calls == []


def test_reading_or_cancelling_needs_a_token(client, rpc):
    assert client.get(f"/api/v1/orders/{ORDER_ID}").status_code == 401
    assert client.post(f"/api/v1/orders/{ORDER_ID}/cancel").status_code == 401
    assert rpc.calls == []


def test_cancel_answers_the_cancelled_order(client, rpc):
    rpc.on("orders", "cancel_order", lambda order_id, user_id: order("cancelled", user_id))
    response = client.post(f"/api/v1/orders/{ORDER_ID}/cancel", headers=bearer(user_id=7))
    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    assert rpc.calls == [("orders", "cancel_order", (ORDER_ID, 7), {})]


def test_cancel_someone_elses_or_a_settled_order(client, rpc):
    rpc.on("orders", "cancel_order", not_found)
    response = client.post(f"/api/v1/orders/{ORDER_ID}/cancel", headers=bearer())
    assert response.status_code == 404
    assert response.json["error"] == "order_not_found"

    def settled(order_id, user_id):
        raise remote(OrderNotCancellable("Already shipped", {"status": ["Shipped."]}))

    rpc.on("orders", "cancel_order", settled)
    response = client.post(f"/api/v1/orders/{ORDER_ID}/cancel", headers=bearer())
    assert response.status_code == 409
    assert response.json == {
        "error": "order_not_cancellable",
        "message": "Already shipped",
        "fields": {"status": ["Shipped."]},
    }
