from collections.abc import Callable
from typing import Any

import pytest
from nameko.exceptions import deserialize, serialize

from gateway.app import create_app
from gateway.auth import issue_token
from gateway.config import Settings

SETTINGS = Settings(jwt_secret="unit-test-secret-that-is-long-enough-for-hs256")


def remote(exc: Exception) -> Exception:
    """``exc`` as the gateway receives it: serialised by the service, rebuilt by nameko."""
    return deserialize(serialize(exc))


class FakeRpc:
    """Stands in for the RPC pool: answers ``(service, method)`` with a handler, records calls."""

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str], Callable[..., Any]] = {}
        self.calls: list[tuple[str, str, tuple, dict]] = []

    def on(self, service: str, method: str, handler: Callable[..., Any]) -> None:
        self.handlers[(service, method)] = handler

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((service, method, args, kwargs))
        return self.handlers[(service, method)](*args, **kwargs)


@pytest.fixture
def rpc():
    return FakeRpc()


@pytest.fixture
def ready_rpc():
    fake = FakeRpc()
    for service in SETTINGS.services:
        fake.on(service, "ping", lambda service=service: {"service": service, "status": "ok"})
    return fake


@pytest.fixture
def app(rpc, ready_rpc):
    return create_app(SETTINGS, rpc=rpc, ready_rpc=ready_rpc)


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(user_id: int = 1, role: str = "customer", settings: Settings = SETTINGS) -> dict:
    token = issue_token({"id": user_id, "role": role}, settings)["access_token"]
    return {"Authorization": f"Bearer {token}"}
