from collections.abc import Callable
from typing import Any

import pytest
import redis
from nameko.exceptions import deserialize, serialize

from gateway.app import create_app
from gateway.auth import issue_token
from gateway.config import Settings
from gateway.idempotency import IdempotencyStore

# Rate limits counted in the app's own memory: no Redis in unit tests, a fresh count per app.
SETTINGS = Settings(
    jwt_secret="unit-test-secret-that-is-long-enough-for-hs256",
    rate_limit_storage_url="memory://",
)


def remote(exc: Exception) -> Exception:
    """``exc`` as the gateway receives it: serialised by the service, rebuilt by nameko."""
    return deserialize(serialize(exc))


class FakeRpc:
    """Stands in for the RPC pool: answers ``(service, method)`` with a handler, records calls."""

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str], Callable[..., Any]] = {}
        self.calls: list[tuple[str, str, tuple, dict]] = []
        self.timeouts: dict[tuple[str, str], float] = {}

    def on(self, service: str, method: str, handler: Callable[..., Any]) -> None:
        self.handlers[(service, method)] = handler

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((service, method, args, kwargs))
        return self.handlers[(service, method)](*args, **kwargs)

    def call_within(self, timeout: float, service: str, method: str, *args: Any, **kwargs: Any):
        self.timeouts[(service, method)] = timeout
        return self.call(service, method, *args, **kwargs)


@pytest.fixture
def rpc():
    return FakeRpc()


@pytest.fixture
def ready_rpc():
    fake = FakeRpc()
    for service in SETTINGS.services:
        fake.on(service, "ping", lambda service=service: {"service": service, "status": "ok"})
    return fake


class FakeRedis:
    """The few Redis commands the idempotency store uses, in memory; ``down`` makes each fail."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.expiry: dict[str, int] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise redis.ConnectionError("Connection refused")

    def set(self, name: str, value: str, nx: bool = False, ex: int | None = None) -> bool | None:
        self._check()
        if nx and name in self.data:
            return None
        self.data[name] = value
        if ex is not None:
            self.expiry[name] = ex
        return True

    def get(self, name: str) -> str | None:
        self._check()
        return self.data.get(name)

    def delete(self, *names: str) -> int:
        self._check()
        return sum(self.data.pop(name, None) is not None for name in names)


@pytest.fixture(autouse=True)
def jwt_secret(monkeypatch):
    """The gateway refuses to start without a secret of its own: these tests' one, for apps
    made from the environment."""
    monkeypatch.setenv("JWT_SECRET", SETTINGS.jwt_secret)


class OpsClient:
    """A test client whose requests come in on the ops port, as probes and Prometheus send
    them (and the Ingress does not)."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, base_url=f"http://localhost:{SETTINGS.ops_port}", **kwargs)


@pytest.fixture
def ops(app):
    return OpsClient(app)


@pytest.fixture
def fake_redis():
    return FakeRedis()


@pytest.fixture
def app(rpc, ready_rpc, fake_redis):
    store = IdempotencyStore(
        SETTINGS.redis_url, SETTINGS.idempotency_ttl, wait=0.3, client=fake_redis
    )
    return create_app(SETTINGS, rpc=rpc, ready_rpc=ready_rpc, idempotency=store)


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(user_id: int = 1, role: str = "customer", settings: Settings = SETTINGS) -> dict:
    token = issue_token({"id": user_id, "role": role}, settings)["access_token"]
    return {"Authorization": f"Bearer {token}"}
