"""The gateway's Idempotency-Key layer against a real Redis (database 3, no other test's)."""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from gateway.app import create_app
from gateway.config import Settings
from tests.conftest import free_port, require_servers
from tests.unit.gateway.conftest import SETTINGS, FakeRpc, bearer

REDIS_URL = "redis://127.0.0.1:6379/3"
BODY = {"items": [{"product_id": 1, "quantity": 2}], "payment_token": "tok_visa"}


@pytest.fixture(scope="module", autouse=True)
def redis_server():
    require_servers("redis")


class SlowOrders:
    """create_order that takes a while, counting its calls (as many threads may call it)."""

    def __init__(self, delay=0.2):
        self.delay = delay
        self.lock = threading.Lock()
        self.keys = []

    def __call__(self, user_id, items, payment_token, idempotency_key):
        with self.lock:
            self.keys.append(idempotency_key)
            number = len(self.keys)
        time.sleep(self.delay)
        return {
            "id": uuid.uuid4().hex,
            "user_id": user_id,
            "status": "confirmed",
            "cancel_reason": None,
            "items": [{**item, "price_cents": 900} for item in items],
            "total_cents": 1800,
            "created_at": f"2024-05-01T10:00:0{number % 10}+00:00",
        }


def make_client(orders, **settings):
    rpc = FakeRpc()
    rpc.on("orders", "create_order", orders)
    app = create_app(
        Settings(**{"jwt_secret": SETTINGS.jwt_secret, "redis_url": REDIS_URL, **settings}),
        rpc=rpc,
        ready_rpc=FakeRpc(),
    )
    return app.test_client()


def post(client, user_id, key):
    headers = {**bearer(user_id=user_id), "Idempotency-Key": key}
    return client.post("/api/v1/orders", json=BODY, headers=headers)


def test_twenty_concurrent_identical_requests_make_one_order_and_one_answer():
    orders = SlowOrders(delay=0.3)
    client = make_client(orders)
    user_id, key = 10_000 + uuid.uuid4().int % 10**6, uuid.uuid4().hex
    start = threading.Barrier(20)

    def send(_):
        start.wait()
        response = post(client, user_id, key)
        return response.status_code, response.get_data(), response.headers.get("Location")

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, range(20)))

    assert orders.keys == [key]
    assert len(set(answers)) == 1
    status, body, location = answers[0]
    assert status == 201
    assert location == f"/api/v1/orders/{json.loads(body)['id']}"


def test_the_answer_is_kept_for_the_ttl_and_server_errors_are_not():
    orders = SlowOrders(delay=0)
    client = make_client(orders, idempotency_ttl=120)
    user_id, key = 10_000 + uuid.uuid4().int % 10**6, uuid.uuid4().hex
    first = post(client, user_id, key)
    again = post(client, user_id, key)
    assert again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"

    store = redis.Redis.from_url(REDIS_URL)
    try:
        names = store.keys(f"idem:v1:{user_id}:*")
        assert len(names) == 1
        assert 100 < store.ttl(names[0]) <= 120

        def down(*args):
            raise ConnectionRefusedError()

        failing = make_client(down)
        other = uuid.uuid4().hex
        assert post(failing, user_id, other).status_code == 503
        assert len(store.keys(f"idem:v1:{user_id}:*")) == 1  # the failed one was not kept
    finally:
        store.close()


def test_without_redis_orders_are_still_taken():
    orders = SlowOrders(delay=0)
    client = make_client(orders, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    key = uuid.uuid4().hex
    began = time.monotonic()
    assert post(client, 1, key).status_code == 201
    assert post(client, 1, key).status_code == 201
    assert time.monotonic() - began < 3
    assert orders.keys == [key, key]  # the orders service's own key keeps it to one order


def test_a_refused_body_leaves_the_key_for_the_corrected_one():
    orders = SlowOrders(delay=0)
    client = make_client(orders)
    user_id, key = 10_000 + uuid.uuid4().int % 10**6, uuid.uuid4().hex
    headers = {**bearer(user_id=user_id), "Idempotency-Key": key}
    invalid = {**BODY, "items": [{"product_id": 1, "quantity": 0}]}
    assert client.post("/api/v1/orders", json=invalid, headers=headers).status_code == 400
    store = redis.Redis.from_url(REDIS_URL)
    try:
        assert store.keys(f"idem:v1:{user_id}:*") == []
    finally:
        store.close()
    corrected = post(client, user_id, key)
    assert corrected.status_code == 201 and "Idempotent-Replayed" not in corrected.headers
    assert orders.keys == [key]
    assert post(client, user_id, key).headers["Idempotent-Replayed"] == "true"
