import dataclasses

import pytest

from gateway.app import create_app
from gateway.config import Settings
from tests.unit.gateway.conftest import SETTINGS

SHOP = "https://shop.example.com"
ADMIN_UI = "http://localhost:3000"


@pytest.fixture
def cors_client(rpc, ready_rpc):
    rpc.on("products", "get_product", lambda product_id: {"id": product_id})
    settings = dataclasses.replace(SETTINGS, cors_origins=(SHOP, ADMIN_UI))
    return create_app(settings, rpc=rpc, ready_rpc=ready_rpc).test_client()


def preflight(client, origin, method="POST", headers="Authorization, Idempotency-Key"):
    return client.options(
        "/api/v1/orders",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_an_allowed_origin_gets_the_cors_headers(cors_client):
    response = cors_client.get("/api/v1/products/1", headers={"Origin": SHOP})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Request-ID", "Idempotent-Replayed", "Retry-After"} <= exposed
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]


def test_a_preflight_from_an_allowed_origin_allows_the_apis_methods_and_headers(cors_client):
    response = preflight(
        cors_client,
        ADMIN_UI,
        headers="Authorization, Content-Type, Idempotency-Key, X-Request-ID",
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ADMIN_UI
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PATCH"} <= methods
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert allowed == {"authorization", "content-type", "idempotency-key", "x-request-id"}
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_a_preflight_needs_no_token_and_reaches_no_service(cors_client, rpc):
    assert preflight(cors_client, SHOP).status_code == 200
    assert rpc.calls == []


def test_another_origin_gets_no_cors_headers(cors_client):
    for origin in ("https://evil.example.com", "https://shop.example.com.evil.net", "null"):
        response = cors_client.get("/api/v1/products/1", headers={"Origin": origin})
        assert response.status_code == 200  # the browser, not the server, withholds it
        assert "Access-Control-Allow-Origin" not in response.headers
        refused = preflight(cors_client, origin)
        assert "Access-Control-Allow-Origin" not in refused.headers
        assert "Access-Control-Allow-Methods" not in refused.headers


def test_a_header_outside_the_list_is_not_allowed(cors_client):
    response = preflight(cors_client, SHOP, headers="X-Forwarded-User")
    assert "Access-Control-Allow-Headers" not in response.headers


def test_errors_carry_the_cors_headers_too(cors_client):
    response = cors_client.post("/api/v1/orders", json={}, headers={"Origin": SHOP})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == SHOP


def test_without_cors_origins_no_answer_has_cors_headers(client, rpc):
    rpc.on("products", "get_product", lambda product_id: {"id": product_id})
    for response in (
        client.get("/api/v1/products/1", headers={"Origin": SHOP}),
        preflight(client, SHOP),
    ):
        assert not [name for name, _ in response.headers.items() if name.startswith("Access-")]


def test_cors_origins_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", f" {SHOP}, ,{ADMIN_UI} ")
    assert Settings.from_env().cors_origins == (SHOP, ADMIN_UI)
    monkeypatch.setenv("CORS_ORIGINS", "")
    assert Settings.from_env().cors_origins == ()
    monkeypatch.delenv("CORS_ORIGINS")
    assert Settings.from_env().cors_origins == ()


def test_preflights_do_not_count_against_rate_limits(rpc, ready_rpc):
    settings = dataclasses.replace(
        SETTINGS, cors_origins=(SHOP,), rate_limit_default_per_ip="2 per minute"
    )
    client = create_app(settings, rpc=rpc, ready_rpc=ready_rpc).test_client()
    for _ in range(5):
        assert preflight(client, SHOP).status_code == 200
