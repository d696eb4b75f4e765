"""The storefront's pages over a scripted RPC pool: what they ask the services, the session
cookie and its CSRF token, and refusals shown in words."""

import re

import pytest

from chassis.contracts.errors import (
    InvalidCredentials,
    OutOfStock,
    ServiceUnavailable,
    UserAlreadyExists,
)
from gateway.auth import issue_token
from gateway.storefront.session import CSRF_COOKIE, SESSION_COOKIE
from tests.unit.gateway.conftest import SETTINGS, remote
from tests.unit.gateway.test_cart import CART
from tests.unit.gateway.test_orders import ORDER_ID, order

MUG = {
    "id": 1,
    "sku": "MUG-1",
    "name": "Blue mug",
    "description": "",
    "price_cents": 900,
    "stock": 4,
}


def page_of(*products):
    return {"items": list(products), "total": len(products), "offset": 0, "limit": 12}


def csrf(client, path="/signin"):
    """The token a page's forms carry (and the cookie it came with)."""
    body = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', body)
    if found:
        return found.group(1)
    return client.get_cookie(CSRF_COOKIE).value


def signed_in(client, user_id=7, role="customer"):
    token = issue_token({"id": user_id, "role": role}, SETTINGS)["access_token"]
    client.set_cookie(SESSION_COOKIE, token)
    return client


def test_the_catalogue_searches_and_pages_like_the_api(client, rpc):
    asked = []

    def listed(offset, limit, q=None):
        asked.append((offset, limit, q))
        return {**page_of(MUG), "total": 30}

    rpc.on("products", "list_products", listed)
    answer = client.get("/?q=blue+mug")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    body = answer.get_data(as_text=True)
    assert "Blue mug" in body and "9.00" in body and 'href="/?q=blue+mug&amp;offset=12"' in body
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    for asset in re.findall(r'(?:href|src)="(/assets/[^"]+)"', body):  # the style, the script
        assert client.get(asset).status_code == 200, asset
    assert asked == [(0, 12, "blue mug")]
    refused = client.get("/?q=" + "x" * 101)
    assert refused.status_code == 400 and "q:" in refused.get_data(as_text=True)


def test_pages_that_need_a_person_send_others_to_sign_in(client, rpc):
    answer = client.get("/cart")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/signin?next=/cart"
    assert rpc.calls == []


def test_signing_in_sets_an_httponly_strict_cookie_that_the_api_ignores(client, rpc):
    rpc.on("users", "authenticate", lambda email, password: {"id": 7, "role": "customer"})
    token = csrf(client, "/signin")
    answer = client.post(
        "/signin",
        data={"email": "a@b.co", "password": "pw-123456", "csrf_token": token, "next": "/cart"},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/cart"
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if SESSION_COOKIE in c)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # The JSON API takes bearer tokens only: the cookie is no way in.
    assert client.get("/api/v1/cart").status_code == 401


def test_a_form_without_its_token_is_refused(client, rpc):
    signed_in(client)
    rpc.on("orders", "add_to_cart", lambda *args: CART)
    for data in ({"product_id": "1"}, {"product_id": "1", "csrf_token": "forged"}):
        answer = client.post("/cart/items", data=data)
        assert answer.status_code == 400
        assert "expired" in answer.get_data(as_text=True)
    assert rpc.calls == []


def test_a_signed_in_customer_adds_and_checks_out_with_a_key_per_attempt(client, rpc):
    signed_in(client)
    rpc.on("orders", "get_cart", lambda user_id: CART)
    rpc.on("orders", "add_to_cart", lambda *args: CART)
    rpc.on("orders", "checkout_cart", lambda *args: order("confirmed", user_id=args[0]))
    body = client.get("/cart").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    attempt = re.search(r'name="attempt" value="([^"]+)"', body).group(1)
    added = client.post(
        "/cart/items", data={"product_id": "3", "quantity": "2", "csrf_token": token}
    )
    assert added.status_code == 303
    form = {"payment_token": "tok_visa", "attempt": attempt, "csrf_token": token}
    placed = client.post("/checkout", data=form)
    assert placed.headers["Location"] == f"/orders/{ORDER_ID}"
    again = client.post("/checkout", data=form)  # a double click sends the same attempt
    checkouts = [args for _, method, args, _ in rpc.calls if method == "checkout_cart"]
    assert checkouts == [(7, "tok_visa", f"page:{attempt}")] * 2
    assert again.status_code == 303
    assert [args for _, method, args, _ in rpc.calls if method == "add_to_cart"] == [(7, 3, 2)]


@pytest.mark.parametrize(
    ("path", "data", "method", "error", "status", "words"),
    [
        (
            "/signin",
            {"email": "a@b.co", "password": "wrong-pw"},
            ("users", "authenticate"),
            InvalidCredentials("Wrong email or password", {}),
            401,
            "Wrong email or password",
        ),
        (
            "/signup",
            {"email": "a@b.co", "password": "pw-123456", "name": "Ada"},
            ("users", "register_user"),
            UserAlreadyExists("That email is registered already", {"email": ["Taken."]}),
            409,
            "email: Taken.",
        ),
        (
            "/cart/items",
            {"product_id": "3"},
            ("orders", "add_to_cart"),
            OutOfStock("Not enough stock", {}),
            409,
            "Not enough stock",
        ),
    ],
)
def test_refusals_are_shown_in_words(client, rpc, path, data, method, error, status, words):
    signed_in(client)

    def refuse(*args, **kwargs):
        raise remote(error)

    rpc.on(*method, refuse)
    answer = client.post(path, data={**data, "csrf_token": csrf(client)})
    assert answer.status_code == status and answer.mimetype == "text/html"
    assert words in answer.get_data(as_text=True)


def test_bad_form_input_names_the_field(client, rpc):
    signed_in(client)
    answer = client.post(
        "/cart/items", data={"product_id": "3", "quantity": "lots", "csrf_token": csrf(client)}
    )
    assert answer.status_code == 400 and "quantity:" in answer.get_data(as_text=True)
    assert rpc.calls == []


def test_staff_pages_are_for_admins_only(client, rpc):
    signed_in(client, role="customer")
    answer = client.get("/admin")
    assert answer.status_code == 403 and "staff" in answer.get_data(as_text=True)
    rpc.on("products", "list_products", lambda offset, limit: page_of(MUG))
    signed_in(client, user_id=1, role="admin")
    assert "Blue mug" in client.get("/admin").get_data(as_text=True)


def test_the_sales_chart_is_drawn_on_the_server(client, rpc):
    signed_in(client, user_id=1, role="admin")
    rows = [
        {"day": "2026-12-01", "product_id": 1, "units": 2, "revenue_cents": 1800},
        {"day": "2026-12-02", "product_id": 1, "units": 1, "revenue_cents": 900},
    ]
    rpc.on("orders", "sales_report", lambda date_from, date_to: {"items": rows})
    body = client.get("/admin/sales?from=2026-12-01&to=2026-12-31").get_data(as_text=True)
    assert body.count("<rect ") == 2 and "2026-12-01: 18.00" in body
    assert client.get("/admin/sales?from=2026-12-31&to=2026-01-01").status_code == 400


def test_a_next_page_elsewhere_is_never_followed(client, rpc):
    rpc.on("users", "authenticate", lambda email, password: {"id": 7, "role": "customer"})
    token = csrf(client, "/signin")
    for target in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/x\r\nSet-Cookie: a=b",
    ):
        answer = client.post(
            "/signin",
            data={"email": "a@b.co", "password": "pw-123456", "csrf_token": token, "next": target},
        )
        assert answer.headers["Location"] == "/"


def test_a_service_whose_database_is_down_is_a_503_page_in_words(client, rpc):
    def unavailable(*args):
        raise remote(ServiceUnavailable("The service's database is unavailable"))

    rpc.on("products", "list_products", unavailable)
    answer = client.get("/")
    assert answer.status_code == 503 and answer.mimetype == "text/html"
    assert "database is unavailable" in answer.get_data(as_text=True)


def test_a_cancellation_still_under_way_is_followed_on_the_order_page(client, rpc):
    signed_in(client)
    rpc.on("orders", "cancel_order", lambda order_id, user_id: order("confirmed"))
    rpc.on("orders", "get_order", lambda order_id, user_id: order("confirmed"))
    rpc.on("products", "get_products", lambda ids: {"items": []})
    token = csrf(client)
    answer = client.post(f"/orders/{ORDER_ID}/cancel", data={"csrf_token": token})
    assert answer.headers["Location"] == f"/orders/{ORDER_ID}?cancelling=1"
    body = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'data-wait-for="cancelled"' in body and "Cancellation under way" in body
    assert "Cancel this order" not in body
    # Without the cancellation in the address: a confirmed order, with its button, unwatched.
    plain = client.get(f"/orders/{ORDER_ID}").get_data(as_text=True)
    assert 'data-wait-for=""' in plain and "Cancel this order" in plain
