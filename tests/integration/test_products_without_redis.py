"""Redis is a cache: with it gone, products keeps answering, correctly, from PostgreSQL."""

import shutil
import subprocess
import time
import uuid

import pytest
import redis
from nameko.testing.services import entrypoint_hook

from products.service import ProductsService
from tests.conftest import free_port


class PrivateRedis:
    """A redis-server of this test's own, so stopping it disturbs nothing else."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make stack` (apt-get install redis)")
        self.binary = binary
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail("private redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


def test_reads_and_writes_go_on_while_redis_is_down(
    container_factory, service_config, private_redis
):
    container = container_factory(
        ProductsService, {**service_config, "REDIS_URL": private_redis.url}
    )
    container.start()

    def call(method, *args):
        with entrypoint_hook(container, method) as hook:
            return hook(*args)

    product = call(
        "create_product",
        {"sku": f"R-{uuid.uuid4().hex[:10]}", "name": "Kept", "price_cents": 100, "stock": 8},
    )
    call("get_product", product["id"])
    cache = redis.Redis(port=private_redis.port)
    assert cache.exists(f"products:v1:{product['id']}")

    private_redis.stop()
    started = time.monotonic()
    assert call("get_product", product["id"]) == product
    changed = call("update_product", product["id"], {"stock": 6})
    assert changed["stock"] == 6
    for _ in range(20):  # after a few failures the breaker skips Redis at once
        assert call("get_product", product["id"])["stock"] == 6
    assert call("list_products", 0, 5)["total"] >= 1
    assert time.monotonic() - started < 5, "reads waited on the dead cache"

    private_redis.start()  # an empty Redis again: nothing stale survives the outage
    time.sleep(5.1)  # the breaker's reset timeout
    assert call("get_product", product["id"])["stock"] == 6
    assert call("get_product", product["id"])["stock"] == 6
    assert redis.Redis(port=private_redis.port).exists(f"products:v1:{product['id']}")
