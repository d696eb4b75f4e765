"""Shopping with the cart through the gateway, against the whole cluster: two tabs at once, a
double-clicked checkout, a refused payment that leaves the cart as it was."""

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.test_orders import new_customer, new_product, stock_of


def lines(cart: dict) -> list[tuple[int, int]]:
    return [(item["product_id"], item["quantity"]) for item in cart["items"]]


def test_a_customer_fills_the_cart_and_checks_it_out(api, admin):
    customer = new_customer(api)
    mug, lamp = new_product(admin, stock=5, price_cents=900), new_product(admin, stock=5)
    assert customer.get("/api/v1/cart").json()["items"] == []
    customer.post("/api/v1/cart/items", json={"product_id": mug["id"]})
    customer.post("/api/v1/cart/items", json={"product_id": lamp["id"], "quantity": 3})
    changed = customer.patch(f"/api/v1/cart/items/{mug['id']}", json={"quantity": 2})
    assert changed.status_code == 200
    cart = customer.get("/api/v1/cart").json()
    assert lines(cart) == [(mug["id"], 2), (lamp["id"], 3)]
    assert cart["total_cents"] == 2 * 900 + 3 * lamp["price_cents"] and cart["can_check_out"]

    key = {"Idempotency-Key": uuid.uuid4().hex}
    placed = customer.post("/api/v1/cart/checkout", json={"payment_token": "tok_visa"}, headers=key)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "confirmed" and order["total_cents"] == cart["total_cents"]
    assert placed.headers["Location"] == f"/api/v1/orders/{order['id']}"
    assert customer.get("/api/v1/cart").json()["items"] == []
    empty = customer.post("/api/v1/cart/checkout", json={"payment_token": "tok_visa"})
    assert empty.status_code == 409 and empty.json()["error"] == "cart_empty"
    assert (stock_of(api, mug["id"]), stock_of(api, lamp["id"])) == (3, 2)


def test_two_tabs_adding_at_once_lose_nothing(api, admin):
    customer, mug = new_customer(api), new_product(admin, stock=50)

    def add(_):
        return customer.post("/api/v1/cart/items", json={"product_id": mug["id"], "quantity": 2})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(add, range(8)))
    assert [answer.status_code for answer in answers] == [200] * 8
    assert lines(customer.get("/api/v1/cart").json()) == [(mug["id"], 16)]


def test_a_double_clicked_checkout_places_one_order(api, admin):
    customer, mug = new_customer(api), new_product(admin, stock=5)
    customer.post("/api/v1/cart/items", json={"product_id": mug["id"]})
    key = {"Idempotency-Key": uuid.uuid4().hex}

    def click(_):
        return customer.post(
            "/api/v1/cart/checkout", json={"payment_token": "tok_visa"}, headers=key
        )

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(click, range(2)))
    placed = [answer.json()["id"] for answer in answers if answer.status_code in (201, 202)]
    assert placed, [answer.text for answer in answers]
    assert len(set(placed)) == 1
    # A click that found the first still running was told so (409), or got the same order.
    assert all(answer.status_code in (201, 202, 409) for answer in answers)
    assert len(customer.get("/api/v1/orders").json()["items"]) == 1
    assert stock_of(api, mug["id"]) == 4


def test_a_declined_payment_leaves_the_cart_as_it_was(api, admin):
    customer, mug = new_customer(api), new_product(admin, stock=5)
    customer.post("/api/v1/cart/items", json={"product_id": mug["id"], "quantity": 2})
    answer = customer.post("/api/v1/cart/checkout", json={"payment_token": "tok_decline"})
    assert answer.status_code == 201, answer.text
    assert (answer.json()["status"], answer.json()["cancel_reason"]) == (
        "cancelled",
        "payment_declined",
    )
    assert lines(customer.get("/api/v1/cart").json()) == [(mug["id"], 2)]
    assert stock_of(api, mug["id"]) == 5


def test_bad_cart_input_is_refused_naming_the_field(api, admin):
    customer = new_customer(api)
    unknown = customer.post("/api/v1/cart/items", json={"product_id": 2_000_000_000})
    assert unknown.status_code == 422 and list(unknown.json()["fields"]) == ["product_id"]
    too_many = customer.post("/api/v1/cart/items", json={"product_id": 1, "quantity": 10_001})
    assert too_many.status_code == 400 and list(too_many.json()["fields"]) == ["quantity"]
    missing = customer.patch("/api/v1/cart/items/2000000000", json={"quantity": 1})
    assert missing.status_code == 404 and missing.json()["error"] == "cart_item_not_found"
    assert api.get("/api/v1/cart").status_code == 401
