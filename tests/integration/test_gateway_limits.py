"""The gateway's rate limits in a real Redis (database 4, no other test's): two app instances
(as two gunicorn workers, or two gateways) share one count, and without Redis requests still
go through."""

import dataclasses
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from gateway.app import create_app
from gateway.logins import KEY_PREFIX as LOGINS_PREFIX
from tests.conftest import free_port, require_servers
from tests.unit.gateway.conftest import SETTINGS, FakeRpc, bearer, remote
from users.exceptions import InvalidCredentials

REDIS_URL = "redis://127.0.0.1:6379/4"
ORDER = {"items": [{"product_id": 1, "quantity": 1}], "payment_token": "tok_visa"}


@pytest.fixture(scope="module", autouse=True)
def redis_server():
    require_servers("redis")


def fake_rpc():
    rpc = FakeRpc()

    def authenticate(email, password):
        if password != "right-password":
            raise remote(InvalidCredentials("Wrong email or password"))
        return {"id": 7, "email": email, "name": "A", "role": "customer"}

    rpc.on("users", "authenticate", authenticate)
    rpc.on("orders", "create_order", lambda *args: {"id": uuid.uuid4().hex, "status": "pending"})
    return rpc


def make_client(**overrides):
    # No storage URL of its own: the limits live where REDIS_URL points, as by default.
    overrides = {"redis_url": REDIS_URL, "rate_limit_storage_url": "", **overrides}
    settings = dataclasses.replace(SETTINGS, **overrides)
    return create_app(settings, rpc=fake_rpc(), ready_rpc=FakeRpc()).test_client()


def login(client, email, password="guess", ip="10.1.0.1"):
    return client.post(
        "/api/v1/auth/token",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def unique_email():
    return f"limits.{uuid.uuid4().hex[:12]}@example.com"


def test_two_instances_share_the_failed_logins_of_an_email():
    first, second = (
        make_client(rate_limit_failed_logins_per_email_and_ip="4 per minute") for _ in range(2)
    )
    email = unique_email()
    for client in (first, second, first, second):
        assert login(client, email).status_code == 401
    for client in (first, second):
        refused = login(client, email, "right-password")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    store = redis.Redis.from_url(REDIS_URL)
    try:
        names = [name.decode() for name in store.keys(f"{LOGINS_PREFIX}:*")]
        assert names and not [name for name in names if "@" in name]  # the address is hashed
    finally:
        store.close()


def test_parallel_guesses_on_two_instances_get_at_most_the_limit_of_401s():
    # As many gunicorn workers or gateway replicas: each request on an instance of its own.
    clients = [
        make_client(rate_limit_failed_logins_per_email_and_ip="5 per minute") for _ in range(4)
    ]
    email = unique_email()
    start = threading.Barrier(12)

    def guess(n):
        start.wait()
        return login(clients[n % len(clients)], email).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = sorted(pool.map(guess, range(12)))
    assert answers == [401] * 5 + [429] * 7


def test_guesses_from_many_addresses_meet_the_per_email_ceiling():
    client = make_client(
        rate_limit_failed_logins_per_email_and_ip="5 per minute",
        rate_limit_failed_logins_per_email="8 per minute",
    )
    email = unique_email()
    answers = [login(client, email, ip=f"10.2.{n}.1").status_code for n in range(12)]
    assert answers == [401] * 8 + [429] * 4


def test_two_instances_share_the_orders_of_a_user():
    first, second = (make_client(rate_limit_orders_per_user="3 per minute") for _ in range(2))
    user = bearer(user_id=10_000 + uuid.uuid4().int % 10**6)
    answers = [
        client.post("/api/v1/orders", json=ORDER, headers=user).status_code
        for client in (first, second, first, second)
    ]
    assert answers == [202, 202, 202, 429]


def test_two_instances_share_the_logins_of_an_address():
    first, second = (make_client(rate_limit_logins_per_ip="2 per minute") for _ in range(2))
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    assert login(first, unique_email(), "right-password", ip=ip).status_code == 200
    assert login(second, unique_email(), "right-password", ip=ip).status_code == 200
    assert login(first, unique_email(), "right-password", ip=ip).status_code == 429


def test_without_redis_requests_go_through_and_it_is_logged(caplog):
    client = make_client(
        rate_limit_storage_url=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit_failed_logins_per_email_and_ip="2 per minute",
    )
    email = unique_email()
    with caplog.at_level(logging.WARNING):
        assert login(client, email, "right-password").status_code == 200
        assert login(client, email).status_code == 401
    assert any("storage unreachable" in record.getMessage() for record in caplog.records)
    # Counted in this instance's memory meanwhile: a guesser is still slowed down.
    assert login(client, email).status_code == 401
    assert login(client, email).status_code == 429
