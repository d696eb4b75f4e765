import pytest

from gateway.config import DEV_JWT_SECRET, Settings


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


@pytest.mark.parametrize("secret", [None, DEV_JWT_SECRET, "short-secret"])
def test_production_refuses_the_development_or_a_short_secret(monkeypatch, secret):
    monkeypatch.setenv("APP_ENV", "production")
    if secret is None:
        monkeypatch.delenv("JWT_SECRET", raising=False)
    else:
        monkeypatch.setenv("JWT_SECRET", secret)
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        Settings.from_env()


def test_production_starts_with_a_secret_of_its_own(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "s" * 48)
    assert Settings.from_env().jwt_secret == "s" * 48
    monkeypatch.delenv("APP_ENV")
    monkeypatch.delenv("JWT_SECRET")
    assert Settings.from_env().jwt_secret == DEV_JWT_SECRET  # development goes on as before
