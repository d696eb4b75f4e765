"""The cart's routes: each passes the caller's id and what it was sent to orders, refuses bad
input naming the field before any call, and answers orders' refusals in words."""

import pytest

from chassis.contracts.errors import CartEmpty, CartFull, CartItemNotFound, UnknownProduct
from chassis.errors import InvalidInput
from tests.unit.gateway.conftest import bearer, remote
from tests.unit.gateway.test_orders import ORDER_ID, order

CUSTOMER = bearer(user_id=7)
LINE = {
    "product_id": 3,
    "quantity": 2,
    "name": "Mug",
    "price_cents": 900,
    "stock": 5,
    "line_total_cents": 1800,
    "problem": None,
}
CART = {"items": [LINE], "units": 2, "total_cents": 1800, "can_check_out": True}


def answer(*args, **kwargs):
    return CART


def test_every_cart_route_needs_a_signed_in_customer(client, rpc):
    for method, path in [
        ("GET", "/api/v1/cart"),
        ("PUT", "/api/v1/cart"),
        ("DELETE", "/api/v1/cart"),
        ("POST", "/api/v1/cart/items"),
        ("PATCH", "/api/v1/cart/items/3"),
        ("DELETE", "/api/v1/cart/items/3"),
        ("POST", "/api/v1/cart/checkout"),
    ]:
        assert client.open(path, method=method).status_code == 401, (method, path)
    assert rpc.calls == []


def test_reading_and_changing_the_cart_pass_the_callers_id(client, rpc):
    for method in (
        "get_cart",
        "add_to_cart",
        "set_cart_quantity",
        "remove_from_cart",
        "replace_cart",
        "clear_cart",
    ):
        rpc.on("orders", method, answer)
    assert client.get("/api/v1/cart", headers=CUSTOMER).json == CART
    client.post("/api/v1/cart/items", json={"product_id": 3}, headers=CUSTOMER)
    client.patch("/api/v1/cart/items/3", json={"quantity": 4}, headers=CUSTOMER)
    client.delete("/api/v1/cart/items/3", headers=CUSTOMER)
    client.put("/api/v1/cart", json={"items": [{"product_id": 3, "quantity": 1}]}, headers=CUSTOMER)
    client.delete("/api/v1/cart", headers=CUSTOMER)
    assert [(method, args) for _, method, args, _ in rpc.calls] == [
        ("get_cart", (7,)),
        ("add_to_cart", (7, 3, 1)),  # one unless said
        ("set_cart_quantity", (7, 3, 4)),
        ("remove_from_cart", (7, 3)),
        ("replace_cart", (7, [{"product_id": 3, "quantity": 1}])),
        ("clear_cart", (7,)),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "product_id"),
        ({"product_id": 0}, "product_id"),
        ({"product_id": "3"}, "product_id"),
        ({"product_id": 3, "quantity": 0}, "quantity"),
        ({"product_id": 3, "quantity": 10_001}, "quantity"),
        ({"product_id": 3, "quantity": 1.5}, "quantity"),
    ],
)
def test_a_bad_item_is_400_naming_the_field_before_any_call(client, rpc, body, field):
    response = client.post("/api/v1/cart/items", json=body, headers=CUSTOMER)
    assert response.status_code == 400
    assert list(response.json["fields"]) == [field]
    assert rpc.calls == []


def test_a_cart_of_more_lines_than_an_order_may_hold_is_refused(client, rpc):
    items = [{"product_id": n, "quantity": 1} for n in range(1, 102)]
    response = client.put("/api/v1/cart", json={"items": items}, headers=CUSTOMER)
    assert response.status_code == 400 and list(response.json["fields"]) == ["items"]
    assert rpc.calls == []


@pytest.mark.parametrize(
    ("method", "path", "body", "error", "status", "code"),
    [
        ("post", "/api/v1/cart/items", {"product_id": 3}, UnknownProduct, 422, "unknown_product"),
        ("post", "/api/v1/cart/items", {"product_id": 3}, CartFull, 422, "cart_full"),
        ("post", "/api/v1/cart/items", {"product_id": 3}, InvalidInput, 400, "invalid_input"),
        ("patch", "/api/v1/cart/items/3", {"quantity": 2}, CartItemNotFound, 404, None),
        ("post", "/api/v1/cart/checkout", {"payment_token": "tok_visa"}, CartEmpty, 409, None),
    ],
)
def test_orders_refusals_are_answered_in_words(
    client, rpc, method, path, body, error, status, code
):
    def refuse(*args, **kwargs):
        raise remote(error("Refused", {"product_id": ["Why."]}))

    for name in ("add_to_cart", "set_cart_quantity", "checkout_cart"):
        rpc.on("orders", name, refuse)
    response = getattr(client, method)(path, json=body, headers=CUSTOMER)
    assert response.status_code == status
    assert response.json["error"] == (
        code or {404: "cart_item_not_found", 409: "cart_empty"}[status]
    )
    assert response.json["message"] == "Refused"


def test_an_item_id_no_cart_can_hold_is_404_without_a_call(client, rpc):
    response = client.patch(
        "/api/v1/cart/items/99999999999", json={"quantity": 1}, headers=CUSTOMER
    )
    assert response.status_code == 404 and response.json["error"] == "cart_item_not_found"
    assert rpc.calls == []


@pytest.mark.parametrize(("status", "code"), [("confirmed", 201), ("pending", 202)])
def test_checkout_places_the_order_with_a_key_of_its_own(client, rpc, status, code):
    rpc.on("orders", "checkout_cart", lambda *args: order(status, user_id=args[0]))
    response = client.post(
        "/api/v1/cart/checkout", json={"payment_token": "tok_visa"}, headers=CUSTOMER
    )
    assert response.status_code == code
    assert response.headers["Location"] == f"/api/v1/orders/{ORDER_ID}"
    ((_, method, args, _),) = rpc.calls
    assert (method, args[:2]) == ("checkout_cart", (7, "tok_visa"))
    assert args[2].startswith("gateway:")


def test_checkout_passes_the_clients_key_on(client, rpc):
    rpc.on("orders", "checkout_cart", lambda *args: order("confirmed", user_id=args[0]))
    headers = {**CUSTOMER, "Idempotency-Key": "checkout-1"}
    response = client.post(
        "/api/v1/cart/checkout", json={"payment_token": "tok_visa"}, headers=headers
    )
    assert response.status_code == 201
    assert rpc.calls[0][2][2] == "checkout-1"


def test_checkout_needs_a_payment_token(client, rpc):
    response = client.post("/api/v1/cart/checkout", json={}, headers=CUSTOMER)
    assert response.status_code == 400 and list(response.json["fields"]) == ["payment_token"]
    assert rpc.calls == []
