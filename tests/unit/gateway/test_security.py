import time

import jwt
import pytest

from gateway.app import create_app
from gateway.config import PUBLISHED_SECRETS, Settings


def test_every_answer_carries_the_security_headers(client, rpc):
    rpc.on("products", "get_product", lambda product_id: {"id": product_id})
    for response in (
        client.get("/health"),
        client.get("/api/v1/products/1"),
        client.get("/api/v1/nowhere"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "secret",
    [None, "", "short-secret", *sorted(PUBLISHED_SECRETS)],
    ids=["unset", "empty", "short", "published-1", "published-2"],
)
@pytest.mark.parametrize("app_env", [None, "production", "development"])
def test_no_secret_a_short_one_or_a_published_one_stops_the_start(monkeypatch, secret, app_env):
    if app_env:
        monkeypatch.setenv("APP_ENV", app_env)
    if secret is None:
        monkeypatch.delenv("JWT_SECRET", raising=False)
    else:
        monkeypatch.setenv("JWT_SECRET", secret)
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        Settings.from_env()
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        create_app(Settings(jwt_secret=secret or ""))


def test_a_secret_of_its_own_is_taken(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", "s" * 48)
    assert Settings.from_env().jwt_secret == "s" * 48


@pytest.mark.parametrize("secret", sorted(PUBLISHED_SECRETS))
def test_a_token_signed_with_a_published_secret_is_refused(client, rpc, secret):
    rpc.on("orders", "sales_report", lambda *args: {"items": []})
    now = int(time.time())
    claims = {"sub": "42", "role": "admin", "iat": now, "exp": now + 600}
    forged = jwt.encode({**claims, "iss": "shop", "aud": "shop-api"}, secret, algorithm="HS256")
    response = client.get(
        "/api/v1/admin/sales?from=2026-01-01&to=2026-01-31",
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert response.status_code == 401
    assert rpc.calls == []
