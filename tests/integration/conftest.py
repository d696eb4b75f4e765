import os

import pytest
import redis

from chassis.migrate import upgrade
from tests.conftest import require_servers

DB = "postgresql+psycopg2://shop:shop@127.0.0.1:5432/{}"
TEST_DATABASES = {
    "users": ("USERS_DATABASE_URL", DB.format("users_test")),
    "products": ("PRODUCTS_DATABASE_URL", DB.format("products_test")),
    "notifications": ("NOTIFICATIONS_DATABASE_URL", DB.format("notifications_test")),
    "orders": ("ORDERS_DATABASE_URL", DB.format("orders_test")),
    "payments": ("PAYMENTS_DATABASE_URL", DB.format("payments_test")),
}
REDIS_URL = "redis://127.0.0.1:6379/2"  # 0 is `make run`'s, 1 the e2e cluster's


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def servers():
    require_servers("rabbitmq", "rabbitmq_api", "postgres", "redis")


@pytest.fixture(scope="session")
def databases(servers):
    """Each service's test database, created when missing and migrated to the latest revision.

    Tests never clean up: each makes its own rows with unique keys.
    """
    urls = {}
    for service, (variable, url) in TEST_DATABASES.items():
        previous = os.environ.get(variable)
        os.environ[variable] = url
        try:
            upgrade(service)
        finally:
            if previous is None:
                del os.environ[variable]
            else:
                os.environ[variable] = previous
        urls[service] = url
    return urls


@pytest.fixture(scope="session")
def redis_client(servers):
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.flushdb()  # ids restart when a test database is recreated: drop older cache entries
    yield client
    client.close()


@pytest.fixture
def service_config(rabbit_config, databases, redis_client):
    """A service config on this test's own vhost, the test databases and the test Redis."""
    return {
        **rabbit_config,
        "DB_URIS": {f"{name}:Base": url for name, url in databases.items()},
        "REDIS_URL": REDIS_URL,
        "serializer": "json",
        "max_workers": 60,
    }
