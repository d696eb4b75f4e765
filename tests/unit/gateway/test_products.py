import pytest
from nameko.exceptions import RpcTimeout, UnknownService

from products.exceptions import DuplicateSku, ProductNotFound
from tests.unit.gateway.conftest import bearer, remote

MUG = {"id": 1, "sku": "MUG", "name": "Mug", "description": "", "price_cents": 900, "stock": 4}
NEW = {"sku": "MUG", "name": "Mug", "price_cents": 900, "stock": 4}


def test_list_passes_the_page_and_returns_it(client, rpc):
    rpc.on(
        "products",
        "list_products",
        lambda offset, limit, q=None: {
            "items": [MUG],
            "total": 1,
            "offset": offset,
            "limit": limit,
        },
    )
    response = client.get("/api/v1/products?offset=5&limit=10")
    assert response.status_code == 200
    assert response.json == {"items": [MUG], "total": 1, "offset": 5, "limit": 10}


def test_a_search_is_passed_on_and_a_bad_one_refused(client, rpc):
    asked = []

    def search(offset, limit, q=None):
        asked.append(q)
        return {"items": [MUG], "total": 1, "offset": offset, "limit": limit}

    rpc.on("products", "list_products", search)
    assert client.get("/api/v1/products?q=blue+mug").json["items"] == [MUG]
    assert client.get("/api/v1/products").status_code == 200
    assert asked == ["blue mug", None]
    for bad in ("", "%20", "x" * 101):
        response = client.get(f"/api/v1/products?q={bad}")
        assert response.status_code == 400
        assert list(response.json["fields"]) == ["q"]
    assert len(asked) == 2


@pytest.mark.parametrize("query", ["limit=101", "limit=0", "offset=-1", "limit=ten"])
def test_list_refuses_bad_pages(client, rpc, query):
    response = client.get(f"/api/v1/products?{query}")
    assert response.status_code == 400
    assert set(response.json["fields"]) <= {"limit", "offset"}
    assert response.json["fields"]
    assert rpc.calls == []


def test_get_unknown_product_is_404(client, rpc):
    def missing(product_id):
        raise remote(ProductNotFound(f"No product {product_id}", {"product_id": ["Not found."]}))

    rpc.on("products", "get_product", missing)
    response = client.get("/api/v1/products/99")
    assert response.status_code == 404
    assert response.json["error"] == "product_not_found"
    assert client.get("/api/v1/products/99999999999").status_code == 404
    assert client.get("/api/v1/products/abc").status_code == 404


@pytest.mark.parametrize("product_id", [0, 2**31])
def test_an_id_no_product_can_have_is_404_without_a_call(client, rpc, product_id):
    assert client.get(f"/api/v1/products/{product_id}").status_code == 404
    changed = client.patch(
        f"/api/v1/products/{product_id}", json={"stock": 1}, headers=bearer(role="admin")
    )
    assert changed.status_code == 404
    assert changed.json["error"] == "product_not_found"
    assert rpc.calls == []


def test_create_needs_an_admin(client, rpc):
    rpc.on("products", "create_product", lambda data: {"id": 1, **data, "description": ""})
    assert client.post("/api/v1/products", json=NEW).status_code == 401
    forbidden = client.post("/api/v1/products", json=NEW, headers=bearer(role="customer"))
    assert forbidden.status_code == 403
    assert forbidden.json["error"] == "forbidden"
    created = client.post("/api/v1/products", json=NEW, headers=bearer(role="admin"))
    assert created.status_code == 201
    assert created.headers["Location"] == "/api/v1/products/1"
    assert len(rpc.calls) == 1


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**NEW, "id": 3}, "id", "Read-only field."),
        ({**NEW, "colour": "red"}, "colour", "Unknown field."),
        ({**NEW, "price_cents": -1}, "price_cents", None),
        ({**NEW, "price_cents": "9"}, "price_cents", None),
        ({**NEW, "price_cents": 2**31}, "price_cents", None),  # more than the column holds
    ],
)
def test_create_refuses_unknown_read_only_and_invalid_fields(client, rpc, body, field, message):
    response = client.post("/api/v1/products", json=body, headers=bearer(role="admin"))
    assert response.status_code == 400
    assert field in response.json["fields"]
    if message:
        assert response.json["fields"][field] == [message]
    assert rpc.calls == []


def test_create_duplicate_sku_is_409(client, rpc):
    def duplicate(data):
        raise remote(DuplicateSku("exists", {"sku": ["Already exists."]}))

    rpc.on("products", "create_product", duplicate)
    response = client.post("/api/v1/products", json=NEW, headers=bearer(role="admin"))
    assert response.status_code == 409
    assert response.json["fields"] == {"sku": ["Already exists."]}


def test_patch_changes_allowed_fields_only(client, rpc):
    rpc.on("products", "update_product", lambda product_id, changes: {**MUG, **changes})
    admin = bearer(role="admin")
    ok = client.patch("/api/v1/products/1", json={"stock": 9}, headers=admin)
    assert ok.status_code == 200 and ok.json["stock"] == 9
    sku = client.patch("/api/v1/products/1", json={"sku": "NEW"}, headers=admin)
    assert sku.status_code == 400 and sku.json["fields"] == {"sku": ["Read-only field."]}
    empty = client.patch("/api/v1/products/1", json={}, headers=admin)
    assert empty.status_code == 400


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"data": "not json", "content_type": "application/json"}, "invalid JSON"),
        ({"json": ["a", "list"]}, "not an object"),
        ({"data": "sku=1", "content_type": "application/x-www-form-urlencoded"}, "a form"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(client, rpc, kwargs, reason):
    response = client.post("/api/v1/products", headers=bearer(role="admin"), **kwargs)
    assert response.status_code == 400, reason
    assert response.json["error"] == "invalid_json"
    assert "_body" in response.json["fields"]


def test_an_oversized_body_is_413(client):
    big = {**NEW, "description": "x" * 100_000}
    response = client.post("/api/v1/products", json=big, headers=bearer(role="admin"))
    assert response.status_code == 413
    assert response.json["error"] == "request_entity_too_large"


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (RpcTimeout(5), 504, "timeout"),
        (UnknownService("products"), 503, "service_unavailable"),
        (ConnectionRefusedError(), 503, "service_unavailable"),
        (RuntimeError("secret internals at /srv/app.py"), 500, "internal_error"),
    ],
)
def test_infrastructure_failures_map_to_json_without_internals(client, rpc, exc, status, code):
    def fail(*args):
        raise exc

    rpc.on("products", "get_product", fail)
    response = client.get("/api/v1/products/1")
    assert response.status_code == status
    assert response.json["error"] == code
    assert "secret" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/api/v1/nothing").json["error"] == "not_found"
    response = client.delete("/api/v1/products/1")
    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "PATCH"}
