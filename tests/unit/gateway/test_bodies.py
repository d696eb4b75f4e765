"""What every route that takes a body does with a bad one, and what no error body ever shows."""

import io
import json

import pytest
from nameko.exceptions import RemoteError

from gateway.app import MAX_BODY_BYTES
from gateway.schemas import UNSTORABLE_TEXT
from tests.unit.gateway.conftest import bearer

ADMIN = bearer(role="admin")
CUSTOMER = bearer(user_id=3)
# Every route that writes, with a body it accepts (the field checked is added to it).
WRITES = {
    ("POST", "/api/v1/users"): ({"email": "a@b.co", "password": "pw-123456", "name": "A"}, {}),
    ("POST", "/api/v1/auth/token"): ({"email": "a@b.co", "password": "pw-123456"}, {}),
    ("POST", "/api/v1/products"): ({"sku": "S-1", "name": "Mug", "price_cents": 100}, ADMIN),
    ("PATCH", "/api/v1/products/1"): ({"stock": 3}, ADMIN),
    (
        "POST",
        "/api/v1/orders",
    ): ({"items": [{"product_id": 1, "quantity": 1}], "payment_token": "tok_visa"}, CUSTOMER),
    ("POST", "/api/v1/orders/0a1b/cancel"): ({}, CUSTOMER),
    ("PUT", "/api/v1/cart"): ({"items": [{"product_id": 1, "quantity": 1}]}, CUSTOMER),
    ("DELETE", "/api/v1/cart"): ({}, CUSTOMER),
    ("POST", "/api/v1/cart/items"): ({"product_id": 1, "quantity": 2}, CUSTOMER),
    ("PATCH", "/api/v1/cart/items/1"): ({"quantity": 2}, CUSTOMER),
    ("DELETE", "/api/v1/cart/items/1"): ({}, CUSTOMER),
    ("POST", "/api/v1/cart/checkout"): ({"payment_token": "tok_visa"}, CUSTOMER),
}
INTERNALS = ("Traceback", 'File "', ".py", "sqlalchemy", "psycopg2", "SELECT", "Error:")


def send(client, method, path, headers, **kwargs):
    return client.open(path, method=method, headers=headers, **kwargs)


def assert_error_body(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert set(response.json) == {"error", "message", "fields"}
    assert response.json["error"] == code
    text = response.get_data(as_text=True)
    assert not [word for word in INTERNALS if word in text], text


def test_the_table_names_every_write_route(app):
    routes = {  # of the JSON API: the storefront's forms are the storefront's tests'
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods & {"POST", "PATCH", "PUT", "DELETE"}
    }
    expected = {
        (method, path.replace("/1", "/<int:product_id>").replace("/0a1b", "/<order_id>"))
        for method, path in WRITES
    }
    assert routes == expected


@pytest.mark.parametrize(("method", "path"), list(WRITES))
def test_an_unknown_field_is_400_naming_it_before_any_call(client, rpc, method, path):
    good, headers = WRITES[(method, path)]
    response = send(client, method, path, headers, json={**good, "colour": "red"})
    assert_error_body(response, 400, "invalid_input")
    assert response.json["fields"] == {"colour": ["Unknown field."]}
    assert rpc.calls == []


@pytest.mark.parametrize(("method", "path"), list(WRITES))
@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"a": 1', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b"[1, 2]", b'"x"'],
    ids=["garbage", "truncated", "not-utf8", "nested-too-deeply", "a-list", "a-string"],
)
def test_malformed_json_is_400_json(client, rpc, method, path, body):
    if len(body) > MAX_BODY_BYTES:
        body = b"[" * (MAX_BODY_BYTES // 2 - 10) + b"]" * (MAX_BODY_BYTES // 2 - 10)
    _, headers = WRITES[(method, path)]
    response = send(client, method, path, headers, data=body, content_type="application/json")
    assert_error_body(response, 400, "invalid_json")
    assert rpc.calls == []


@pytest.mark.parametrize(("method", "path"), list(WRITES))
def test_a_body_over_the_limit_is_413_json(client, rpc, method, path):
    good, headers = WRITES[(method, path)]
    response = send(client, method, path, headers, json={**good, "pad": "x" * MAX_BODY_BYTES})
    assert_error_body(response, 413, "request_entity_too_large")
    assert rpc.calls == []


def chunked(client, method, path, headers, body: bytes):
    """``body`` sent as a server that handles ``Transfer-Encoding: chunked`` (gunicorn) hands
    it on: no ``Content-Length``, the stream terminated by the server."""
    return client.open(
        path,
        method=method,
        headers={**headers, "Content-Type": "application/json"},
        input_stream=io.BytesIO(body),
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )


@pytest.mark.parametrize(("method", "path"), list(WRITES))
def test_a_chunked_body_over_the_limit_is_413_json(client, rpc, method, path):
    good, headers = WRITES[(method, path)]
    body = json.dumps({**good, "pad": "x" * MAX_BODY_BYTES}).encode()
    response = chunked(client, method, path, headers, body)
    assert_error_body(response, 413, "request_entity_too_large")
    assert "X-Request-ID" in response.headers
    assert rpc.calls == []


def test_a_chunked_body_within_the_limit_is_read_whole(client, rpc):
    rpc.on("users", "register_user", lambda **kw: {"id": 1, **kw, "role": "customer"})
    name = "n" * 90
    body = json.dumps({"email": "a@b.co", "password": "pw-123456", "name": name}).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))  # exactly at the limit
    response = chunked(client, "POST", "/api/v1/users", {}, body)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert rpc.calls[0][3]["name"] == name


def test_cancel_takes_no_body_or_an_empty_object(client, rpc):
    rpc.on(
        "orders", "cancel_order", lambda order_id, user_id: {"id": order_id, "status": "cancelled"}
    )
    assert client.post("/api/v1/orders/0a1b/cancel", headers=CUSTOMER).status_code == 200
    assert client.post("/api/v1/orders/0a1b/cancel", headers=CUSTOMER, json={}).status_code == 200
    assert len(rpc.calls) == 2


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError('psycopg2.errors.UndefinedTable: SELECT * FROM "users" at /srv/app.py'),
        KeyError("sqlalchemy.exc.OperationalError"),
        # What nameko hands over for a service exception the gateway does not list.
        RemoteError("ProgrammingError", "(psycopg2.errors.SyntaxError) SELECT 1 FROM orders"),
    ],
    ids=["local", "key-error", "unlisted-remote"],
)
def test_an_unexpected_error_is_a_generic_500(client, rpc, exc):
    def fail(*args):
        raise exc

    rpc.on("products", "get_product", fail)
    response = client.get("/api/v1/products/1")
    assert_error_body(response, 500, "internal_error")
    assert response.json == {
        "error": "internal_error",
        "message": "Something went wrong on our side",
        "fields": {},
    }


# A text field of each write route; cancel takes none, so any field will do there.
TEXT_FIELDS = {
    ("POST", "/api/v1/users"): "name",
    ("POST", "/api/v1/auth/token"): "email",
    ("POST", "/api/v1/products"): "name",
    ("PATCH", "/api/v1/products/1"): "description",
    ("POST", "/api/v1/orders"): "payment_token",
    ("POST", "/api/v1/orders/0a1b/cancel"): "note",
    ("PUT", "/api/v1/cart"): "note",
    ("DELETE", "/api/v1/cart"): "note",
    ("POST", "/api/v1/cart/items"): "note",
    ("PATCH", "/api/v1/cart/items/1"): "note",
    ("DELETE", "/api/v1/cart/items/1"): "note",
    ("POST", "/api/v1/cart/checkout"): "payment_token",
}


@pytest.mark.parametrize(("method", "path"), list(WRITES))
@pytest.mark.parametrize(
    "text", ['"a\\u0000b"', '"\\ud800"', '"x\\udfff"'], ids=["nul", "lone-high", "lone-low"]
)
def test_text_no_database_can_store_is_400_naming_it(client, rpc, method, path, text):
    good, headers = WRITES[(method, path)]
    field = TEXT_FIELDS[(method, path)]
    body = json.dumps(good)[:-1] + (", " if good else "") + f'"{field}": {text}}}'
    response = send(client, method, path, headers, data=body, content_type="application/json")
    assert_error_body(response, 400, "invalid_input")
    assert response.json["fields"] == {field: [UNSTORABLE_TEXT]}
    assert rpc.calls == []


def test_unstorable_text_is_named_where_it_is_nested(client, rpc):
    body = {"items": [{"product_id": 1, "quantity": 1}, {"product_id": "\x00"}], "payment_token": 1}
    response = client.post("/api/v1/orders", json=body, headers=CUSTOMER)
    assert_error_body(response, 400, "invalid_input")
    assert response.json["fields"] == {"items": {"1": {"product_id": [UNSTORABLE_TEXT]}}}
    assert rpc.calls == []


def test_text_with_paired_surrogates_is_passed_on(client, rpc):
    rpc.on("users", "register_user", lambda **data: {"id": 1, "role": "customer", **data})
    name = "\U0001f600 Ada"  # an astral character is a surrogate pair in JSON
    body = {"email": "a@b.co", "password": "pw-123456", "name": name}
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 201
    assert rpc.calls[0][3]["name"] == name
