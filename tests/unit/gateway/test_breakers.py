import dataclasses
import threading
import time

import pytest
from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout, UnknownService

from chassis.contracts.errors import ServiceUnavailable
from gateway.app import create_app
from products.exceptions import ProductNotFound
from tests.unit.gateway.conftest import SETTINGS, FakeRpc, bearer, remote

MUG = {"id": 1, "sku": "MUG", "name": "Mug", "description": "", "price_cents": 900, "stock": 4}


@pytest.fixture
def rpc():
    return FakeRpc()


@pytest.fixture
def app(rpc, ready_rpc):
    settings = dataclasses.replace(SETTINGS, breaker_fail_max=3, breaker_reset_timeout=0.3)
    return create_app(settings, rpc=rpc, ready_rpc=ready_rpc)


@pytest.fixture
def client(app):
    return app.test_client()


def calls_to(rpc, method):
    return len([call for call in rpc.calls if call[1] == method])


def test_a_service_that_keeps_failing_is_answered_503_at_once_until_it_returns(client, rpc):
    def down(product_id):
        raise UnknownService("products")

    rpc.on("products", "get_product", down)
    for _ in range(3):
        assert client.get("/api/v1/products/1").status_code == 503
    assert calls_to(rpc, "get_product") == 3
    opened = client.get("/api/v1/products/1")
    assert opened.status_code == 503
    assert opened.json["error"] == "service_unavailable"
    assert opened.headers["Retry-After"] == "1"
    assert calls_to(rpc, "get_product") == 3  # not even tried
    rpc.on("products", "get_product", lambda product_id: MUG)  # the service is back
    time.sleep(0.35)
    assert client.get("/api/v1/products/1").status_code == 200  # the trial call closes it
    assert client.get("/api/v1/products/1").status_code == 200
    assert calls_to(rpc, "get_product") == 5


def test_a_service_without_its_database_is_503_and_counts_as_down(client, rpc):
    def without_database(product_id):
        raise remote(ServiceUnavailable("The service's database is unavailable"))

    rpc.on("products", "get_product", without_database)
    for _ in range(3):
        answer = client.get("/api/v1/products/1")
        assert answer.status_code == 503, answer.json
        assert answer.json["error"] == "service_unavailable"
        assert answer.headers["Retry-After"]
    assert client.get("/api/v1/products/1").status_code == 503
    assert calls_to(rpc, "get_product") == 3  # the breaker opened: not tried the fourth time


def test_answers_never_open_a_breaker(client, rpc):
    def missing(product_id):
        raise remote(ProductNotFound(f"No product {product_id}", {"product_id": ["Not found."]}))

    rpc.on("products", "get_product", missing)
    for _ in range(6):
        assert client.get("/api/v1/products/1").status_code == 404
    assert calls_to(rpc, "get_product") == 6


def test_slow_calls_to_one_service_wait_side_by_side_not_in_a_queue(app, rpc):
    def slow(product_id):
        time.sleep(0.3)
        raise RpcTimeout()

    rpc.on("products", "get_product", slow)
    answers = []

    def request():
        answers.append(app.test_client().get("/api/v1/products/1").status_code)

    started = time.monotonic()
    callers = [threading.Thread(target=request) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert answers == [504, 504, 504]
    assert time.monotonic() - started < 0.8  # in a queue it would take 0.9 s


def test_a_read_whose_connection_broke_is_tried_again(client, rpc):
    attempts = []

    def flaky(product_id):
        attempts.append(product_id)
        if len(attempts) == 1:
            raise OperationalError("connection reset")
        return MUG

    rpc.on("products", "get_product", flaky)
    assert client.get("/api/v1/products/1").json == MUG
    assert len(attempts) == 2


def test_a_write_is_never_tried_twice_by_the_gateway(client, rpc):
    def broken(product):
        raise OperationalError("connection reset")

    rpc.on("products", "create_product", broken)
    response = client.post(
        "/api/v1/products",
        json={"sku": "MUG", "name": "Mug", "price_cents": 900, "stock": 4},
        headers=bearer(role="admin"),
    )
    assert response.status_code == 503
    assert calls_to(rpc, "create_product") == 1
