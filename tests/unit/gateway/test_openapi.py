"""The OpenAPI document: valid OpenAPI 3, and a description of every route the app has."""

import base64
import copy
import hashlib
import re

import jsonschema_rs
import pytest
import schemathesis

from gateway.openapi import build_spec

METHODS = {"get", "post", "patch", "put", "delete"}
ADMIN_ONLY = {
    ("post", "/api/v1/products"),
    ("patch", "/api/v1/products/{product_id}"),
    ("get", "/api/v1/admin/sales"),
}
OPEN = {
    ("post", "/api/v1/users"),
    ("post", "/api/v1/auth/token"),
    ("get", "/api/v1/products"),
    ("get", "/api/v1/products/{product_id}"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/docs"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
}


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_the_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.0 meta-schema


def test_the_validity_check_bites(document):
    broken = copy.deepcopy(document)
    del broken["paths"]["/health"]["get"]["responses"]
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def test_every_route_is_documented_with_its_methods(app, document):
    routes = {
        (method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("health.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(method, path) for method, path, _ in operations(document)}
    assert routes == documented
    assert {("get", "/health"), ("post", "/api/v1/orders/{order_id}/cancel")} <= routes


def test_every_reference_resolves(document):
    text = str(document)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in document["components"]["schemas"]


def test_path_parameters_are_declared(document):
    for _, path, operation in operations(document):
        declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path


def test_bearer_jwt_guards_all_but_the_open_routes(document):
    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    for method, path, operation in operations(document):
        responses = operation["responses"]
        if (method, path) in OPEN:
            assert "security" not in operation, path
            continue
        assert operation["security"] == [{"bearerAuth": []}], path
        assert "401" in responses, path
        assert ("403" in responses) == ((method, path) in ADMIN_ONLY), path


def test_errors_share_one_schema(document):
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message", "fields"}
    assert error["properties"]["fields"]["type"] == "object"
    for _, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            # 414 is the HTTP server's own answer, in HTML (below): the gateway never sees it.
            if status.startswith(("4", "5")) and path != "/ready" and status != "414":
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)


def test_every_operation_can_be_refused_by_the_http_server_for_its_length(document):
    for _, path, operation in operations(document):
        answer = operation["responses"]["414"]
        assert answer["content"] == {"text/html": {"schema": {"type": "string"}}}, path


def test_what_each_kind_of_route_can_answer(document):
    for method, path, operation in operations(document):
        codes = set(operation["responses"])
        if "requestBody" in operation:
            assert {"400", "413"} <= codes, path
            assert operation["requestBody"]["content"]["application/json"]["schema"]
        if path.startswith("/api/v1/") and "openapi" not in path and "docs" not in path:
            assert {"503", "504"} <= codes, path
        # Rate limited: logins, sign-ups and order placement (a checkout places one) only.
        limited = (method, path) in {
            ("post", "/api/v1/auth/token"),
            ("post", "/api/v1/users"),
            ("post", "/api/v1/orders"),
            ("post", "/api/v1/cart/checkout"),
        }
        assert ("429" in codes) == limited, path
    place = document["paths"]["/api/v1/orders"]["post"]
    assert {"201", "202", "400", "401", "409", "413", "422", "429", "503", "504"} <= set(
        place["responses"]
    )
    header = next(p for p in place["parameters"] if p["in"] == "header")
    assert header["name"] == "Idempotency-Key" and header["required"] is False


def test_request_schemas_come_from_the_marshmallow_schemas(document):
    schemas = document["components"]["schemas"]
    assert schemas["NewOrder"]["required"] == ["items", "payment_token"]
    assert schemas["NewOrder"]["additionalProperties"] is False
    assert schemas["Registration"]["properties"]["password"]["minLength"] == 8
    assert "role" not in schemas["Registration"]["properties"]
    assert schemas["ProductChanges"]["minProperties"] == 1
    page = {
        p["name"]: p["schema"] for p in document["paths"]["/api/v1/products"]["get"]["parameters"]
    }
    assert (page["offset"]["maximum"], page["limit"]["maximum"]) == (10**9, 100)
    assert (page["q"]["minLength"], page["q"]["maxLength"]) == (1, 100)
    sales = document["paths"]["/api/v1/admin/sales"]["get"]["parameters"]
    assert {(p["name"], p["required"]) for p in sales} == {("from", True), ("to", True)}


def test_a_route_that_declares_nothing_fails_the_build(app):
    app.add_url_rule("/api/v1/secret", "secret", lambda: "")
    with pytest.raises(KeyError, match="/api/v1/secret"):
        build_spec(app)


def test_the_docs_page_loads_redoc_pinned_and_only_what_it_needs(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'spec-url="/api/v1/openapi.json"' in page
    found = re.search(r'src="(/assets/vendor/redoc-[\d.]+/[^"]+)" integrity="sha384-([^"]+)"', page)
    assert found, page
    script = client.get(found.group(1))  # served from here, and it is the file the hash names
    digest = base64.b64encode(hashlib.sha384(script.get_data()).digest()).decode()
    assert script.status_code == 200 and digest == found.group(2)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "http" not in policy
    assert "connect-src 'self'" in policy
    assert "unsafe-eval" not in policy
    # Every other answer keeps the strict policy.
    assert (
        client.get("/api/v1/openapi.json")
        .headers["Content-Security-Policy"]
        .startswith("default-src 'none'")
    )


def test_the_cart_and_its_checkout_are_documented(document):
    paths = document["paths"]
    assert set(paths["/api/v1/cart"]) >= {"get", "put", "delete"}
    assert set(paths["/api/v1/cart/items"]) >= {"post"}
    assert set(paths["/api/v1/cart/items/{product_id}"]) >= {"patch", "delete"}
    checkout = paths["/api/v1/cart/checkout"]["post"]
    assert {"201", "202", "409", "422", "429"} <= set(checkout["responses"])
    header = next(p for p in checkout["parameters"] if p["in"] == "header")
    assert header["name"] == "Idempotency-Key"
    line = document["components"]["schemas"]["CartLine"]["properties"]["problem"]
    assert line["enum"] == ["unknown_product", "short", None]  # null: nothing wrong
