"""Every route of the HTTP API, with its error cases, against the running cluster."""

import json
import stat
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
import requests


def sku() -> str:
    return f"E2E-{uuid.uuid4().hex[:10]}"


def test_health_ready_and_metrics_on_the_ops_port_only(api, ops):
    assert api.get("/health").json() == {"status": "ok"}
    assert ops.get("/health/live").json() == {"status": "ok"}
    ready = ops.get("/health/ready")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {
        "rabbitmq",
        "users",
        "products",
        "orders",
        "payments",
        "notifications",
    }
    api.get("/api/v1/products")
    metrics = ops.get("/metrics").text
    assert 'gateway_http_requests_total{method="GET",route="/api/v1/products",status="200"}' in (
        metrics
    )
    # Not on the public port, which the Ingress forwards: nobody outside reads them.
    for path in ("/ready", "/metrics", "/health/ready"):
        assert api.get(path).status_code == 404, path


def test_sign_up_log_in_and_read_my_profile(api):
    email = f"Ada.{uuid.uuid4().hex[:8]}@Example.com"
    created = api.post(
        "/api/v1/users", json={"email": email, "password": "pw-123456", "name": "Ada"}
    )
    assert created.status_code == 201
    user = created.json()
    assert user == {"id": user["id"], "email": email.lower(), "name": "Ada", "role": "customer"}

    duplicate = api.post(
        "/api/v1/users", json={"email": email.upper(), "password": "pw-123456", "name": "Ada"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["fields"] == {"email": ["Already registered."]}

    wrong = api.post("/api/v1/auth/token", json={"email": email, "password": "not-it"})
    assert wrong.status_code == 401
    token = api.post("/api/v1/auth/token", json={"email": email, "password": "pw-123456"})
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0

    me = api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json() == user
    assert api.get("/api/v1/users/me").status_code == 401
    assert api.get("/api/v1/users/me", headers={"Authorization": "Bearer x.y.z"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "nope", "password": "pw-123456", "name": "A"}, {"email"}),
        ({"email": "a@b.co", "password": "short", "name": "A"}, {"password"}),
        ({"email": "a@b.co", "password": "pw-123456"}, {"name"}),
        ({"email": "a@b.co", "password": "pw-123456", "name": "A", "role": "admin"}, {"role"}),
        ({"email": 5, "password": ["x"], "name": None}, {"email", "password", "name"}),
    ],
)
def test_bad_sign_ups_are_400_naming_the_fields(api, body, fields):
    response = api.post("/api/v1/users", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_input"
    assert set(response.json()["fields"]) == fields


def test_catalogue_pages(api, admin):
    for _ in range(3):
        admin.post("/api/v1/products", json={"sku": sku(), "name": "Paged", "price_cents": 100})
    page = api.get("/api/v1/products?offset=1&limit=2").json()
    assert page["offset"] == 1 and page["limit"] == 2 and len(page["items"]) == 2
    assert page["total"] >= 4  # the demo catalogue is seeded too
    assert api.get("/api/v1/products?limit=101").status_code == 400
    assert api.get("/api/v1/products?offset=-3").status_code == 400


def test_a_customer_finds_a_new_product_by_words_of_its_name_or_its_sku(api, admin):
    word = f"zq{uuid.uuid4().hex[:8]}"
    body = {"sku": f"SRCH-{word}", "name": f"Walnut {word} bowl", "price_cents": 2500}
    created = admin.post("/api/v1/products", json=body).json()
    for q in (f"bowl {word.upper()}", f"srch-{word}"):
        found = api.get("/api/v1/products", params={"q": q}).json()
        assert [item["id"] for item in found["items"]] == [created["id"]], q
        assert found["total"] == 1
    assert api.get("/api/v1/products", params={"q": f"{word} teapot"}).json()["total"] == 0
    refused = api.get("/api/v1/products", params={"q": " "})
    assert refused.status_code == 400 and list(refused.json()["fields"]) == ["q"]


def test_admin_manages_products_and_others_cannot(api, admin, customer):
    body = {
        "sku": sku(),
        "name": "Lamp",
        "description": "Warm light.",
        "price_cents": 4999,
        "stock": 3,
    }
    assert api.post("/api/v1/products", json=body).status_code == 401
    assert customer.post("/api/v1/products", json=body).status_code == 403

    created = admin.post("/api/v1/products", json=body)
    assert created.status_code == 201
    product = created.json()
    assert product == {"id": product["id"], **body}
    assert api.get(f"/api/v1/products/{product['id']}").json() == product

    assert admin.post("/api/v1/products", json=body).status_code == 409
    for bad in (
        {**body, "sku": sku(), "id": 1},
        {**body, "sku": sku(), "colour": "red"},
        {**body, "sku": sku(), "price_cents": -5},
    ):
        response = admin.post("/api/v1/products", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["fields"]

    patched = admin.patch(f"/api/v1/products/{product['id']}", json={"stock": 10, "name": "Lamp 2"})
    assert patched.status_code == 200
    assert api.get(f"/api/v1/products/{product['id']}").json() == {
        **product,
        "stock": 10,
        "name": "Lamp 2",
    }
    assert admin.patch(f"/api/v1/products/{product['id']}", json={"sku": "X"}).status_code == 400
    assert customer.patch(f"/api/v1/products/{product['id']}", json={"stock": 1}).status_code == 403
    assert admin.patch("/api/v1/products/2000000000", json={"stock": 1}).status_code == 404


def test_unknown_products_and_garbage_are_4xx_json(api, admin):
    assert api.get("/api/v1/products/2000000000").status_code == 404
    assert api.get("/api/v1/products/99999999999999").status_code == 404
    garbage = admin.post(
        "/api/v1/products", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400 and garbage.json()["error"] == "invalid_json"
    huge = admin.post("/api/v1/products", json={"description": "x" * 200_000})
    assert huge.status_code == 413
    assert api.get("/api/v1/nowhere").json()["error"] == "not_found"


def test_parallel_password_guesses_get_at_most_the_limit_of_401s(api):
    # Through every gunicorn worker and thread at once: the limit (5 a minute per email and
    # client address, by default) is counted before any password is checked.
    email = f"guessed.{uuid.uuid4().hex[:10]}@example.com"
    created = api.post("/api/v1/users", json={"email": email, "password": "pw-123456", "name": "G"})
    assert created.status_code == 201, created.text
    start = threading.Barrier(12)

    def guess(n):
        start.wait()
        return requests.post(
            f"{api.base}/api/v1/auth/token",
            json={"email": email, "password": f"wrong-{n}"},
            timeout=15,
        ).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = sorted(pool.map(guess, range(12)))
    assert answers == [401] * 5 + [429] * 7
    late = api.post("/api/v1/auth/token", json={"email": email, "password": "pw-123456"})
    assert late.status_code == 429  # past the limit even the right password waits


def test_a_chunked_body_over_the_limit_is_413(api):
    # No Content-Length: the body's size is only known once read.
    pad = "x" * (65 * 1024)
    body = json.dumps({"email": "a@b.co", "password": "pw-123456", "name": pad}).encode()
    response = requests.post(
        f"{api.base}/api/v1/users",
        data=(body[i : i + 8192] for i in range(0, len(body), 8192)),
        headers={"Content-Type": "application/json"},
        timeout=15,
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "request_entity_too_large"


PUBLISHED_SECRETS = (
    "local-development-secret-change-me-in-production",
    "dev-only-jwt-secret-replace-me-0123456789abcdef",
)


@pytest.mark.parametrize("secret", PUBLISHED_SECRETS)
def test_a_token_signed_with_a_secret_written_in_the_repository_is_refused(api, secret):
    now = int(time.time())
    claims = {"sub": "42", "role": "admin", "iat": now, "exp": now + 600}
    forged = jwt.encode({**claims, "iss": "shop", "aud": "shop-api"}, secret, algorithm="HS256")
    response = api.get(
        "/api/v1/admin/sales",
        params={"from": "2026-01-01", "to": "2026-01-31"},
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert response.status_code == 401, response.text


def test_the_secret_is_made_once_for_the_installation_and_kept_private(admin, cluster_env):
    secrets = Path(cluster_env["RUN_DIR"]) / "secrets"
    path = secrets / "jwt-secret"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32
    # Every gunicorn worker shares it: a token made by one is taken by all of them.
    answers = {admin.get("/api/v1/users/me").status_code for _ in range(16)}
    assert answers == {200}


def test_each_service_and_the_gateway_use_a_broker_user_of_their_own(api, cluster_env):
    vhost = cluster_env["AMQP_URI"].rsplit("/", 1)[1]
    connections = requests.get(
        f"http://127.0.0.1:15672/api/vhosts/{vhost}/connections",
        auth=("guest", "guest"),
        timeout=10,
    ).json()
    users = {connection["user"] for connection in connections}
    expected = {
        f"{vhost}-{name}"
        for name in ("users", "products", "orders", "payments", "notifications", "gateway")
    }
    assert expected <= users
