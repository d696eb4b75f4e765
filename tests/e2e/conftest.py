"""The whole cluster, started the way `make run` starts it, on a vhost, databases and a Redis
database of its own, so a developer's running `make run` is left alone."""

import fcntl
import os
import uuid

import pytest
import redis
import requests

from tests.conftest import broker_vhost, free_port, require_servers, running_shop
from tests.e2e.otlp_sink import OtlpSink

API = "http://127.0.0.1:15672/api"
ADMIN = {"email": "admin@example.com", "password": "e2e-admin-password"}
START_TIMEOUT = 120
SERVICES = ("users", "products", "orders", "payments", "notifications")
INSTANCES = (*SERVICES, "orders_2", "products_2")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def machine_lock():
    """One e2e run per machine at a time: runs share the ``*_e2e`` databases and Redis db 1,
    and the chaos test restarts the servers under everyone's feet."""
    with open("/tmp/shop-e2e.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def vhost(machine_lock):
    require_servers("rabbitmq", "rabbitmq_api", "postgres", "redis")
    with broker_vhost(API, f"shop_e2e_{uuid.uuid4().hex[:8]}") as name:
        yield name


@pytest.fixture(scope="session")
def otlp_sink():
    """Where the cluster sends its traces: tracing is on in e2e, as in production."""
    sink = OtlpSink()
    yield sink
    sink.close()


@pytest.fixture(scope="session")
def cluster_env(vhost, tmp_path_factory, otlp_sink):
    db = "postgresql+psycopg2://shop:shop@127.0.0.1:5432/{}_e2e"
    redis_url = "redis://127.0.0.1:6379/1"
    redis.Redis.from_url(redis_url).flushdb()
    return {
        **os.environ,
        "AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "USERS_DATABASE_URL": db.format("users"),
        "PRODUCTS_DATABASE_URL": db.format("products"),
        "ORDERS_DATABASE_URL": db.format("orders"),
        "PAYMENTS_DATABASE_URL": db.format("payments"),
        "NOTIFICATIONS_DATABASE_URL": db.format("notifications"),
        "SMTP_PORT": str(free_port()),  # its own mail sink, never the one of `make run`
        "REDIS_URL": redis_url,
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_OPS_PORT": str(free_port()),
        # Each service and the gateway on a broker user of its own, as `make run` makes them,
        # named after this vhost so that a `make run` on this machine keeps its own.
        "BROKER_USER_PREFIX": f"{vhost}-",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_sink.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms between exports: tests wait for the spans
        # Two of orders and of products, on the same queues, as a scaled-out deployment runs.
        "SCALE": "orders=2,products=2",
        **{f"{name.upper()}_OPS_PORT": str(free_port()) for name in INSTANCES},
        "RUN_DIR": str(tmp_path_factory.mktemp("run")),
        "ADMIN_EMAIL": ADMIN["email"],
        "ADMIN_PASSWORD": ADMIN["password"],
        # No JWT_SECRET: `make run` makes one for the installation (its RUN_DIR), as for anyone.
        # The suite signs up a few hundred users (schemathesis among them) from one address.
        "RATE_LIMIT_SIGNUPS_PER_IP": "10000 per hour",
    }


# The cluster lives as long as the e2e tests, not the whole run: stopped once they end, its
# dozen database pools do not crowd PostgreSQL's connections while the integration tests run.
@pytest.fixture(scope="package")
def cluster(cluster_env):
    """Yields the gateway's base URL; stops the cluster with SIGTERM and checks it exits 0."""
    with running_shop(cluster_env, START_TIMEOUT) as base:
        yield base


class Api:
    """A small HTTP client for the gateway, remembering a bearer token once given one."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __getattr__(self, method):
        def send(path, **kwargs):
            kwargs.setdefault("timeout", 15)
            return self.session.request(method.upper(), self.base + path, **kwargs)

        return send


@pytest.fixture(scope="package")
def api(cluster):
    return Api(cluster)


@pytest.fixture(scope="package")
def ops(cluster, cluster_env):
    """The gateway's ops port: /health/live, /health/ready, /metrics."""
    return Api(f"http://127.0.0.1:{cluster_env['GATEWAY_OPS_PORT']}")


def login(api: Api, email: str, password: str) -> Api:
    response = api.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return Api(api.base, response.json()["access_token"])


@pytest.fixture(scope="package")
def admin(api):
    return login(api, ADMIN["email"], ADMIN["password"])


def new_customer(api: Api) -> Api:
    """A customer signed up and logged in, with an address of its own."""
    email = f"c.{uuid.uuid4().hex[:10]}@example.com"
    created = api.post(
        "/api/v1/users", json={"email": email, "password": "customer-pw", "name": "Cus Tomer"}
    )
    assert created.status_code == 201, created.text
    return login(api, email, "customer-pw")


@pytest.fixture
def customer(api):
    return new_customer(api)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item (``rep_call``...), for fixtures that act on a
    failure (the browser tests' screenshots)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
