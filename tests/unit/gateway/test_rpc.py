import time
from types import SimpleNamespace

import pytest
from nameko.exceptions import RpcTimeout

from chassis.logs import bind_request_id, reset_request_id
from gateway.amqp_rpc import ConnectionLost
from gateway.config import parse_timeouts
from gateway.rpc import PoolExhausted, RpcPool


class FakeClient:
    """A connected AmqpRpcClient, as far as the pool looks into it."""

    def __init__(self, method):
        self.method = method
        self.usable = True
        self.connected = True  # what ``alive`` finds before the client is lent
        self.stopped = False

    def call(self, service, method, args, kwargs, timeout, context):
        call = SimpleNamespace(
            service=service, method=method, args=args, kwargs=kwargs, timeout=timeout
        )
        return self.method(self, call, context)

    def alive(self):
        return self.connected

    def close(self):
        self.stopped = True


@pytest.fixture
def started(monkeypatch):
    """The pool's clients, each answering with ``started.method``."""
    clients = []

    def start(pool):
        client = FakeClient(lambda *args: started.method(*args))
        clients.append(client)
        return client

    monkeypatch.setattr(RpcPool, "_start", start)
    started = SimpleNamespace(clients=clients, method=None)
    return started


def deadline(client, call, context):
    return call.timeout


def test_call_within_shortens_one_calls_deadline_only(started):
    pool = RpcPool("amqp://unused", size=2, timeout=5.0)
    started.method = deadline
    assert pool.call_within(0.5, "products", "get_products", [1]) == 0.5
    assert pool.call("products", "get_products", [1]) == 5.0
    assert len(started.clients) == 1  # the same client, lent twice


def test_a_call_site_can_have_a_bound_of_its_own(started):
    timeouts = parse_timeouts("products.get_products=0.75, products=2,orders.create_order=8")
    pool = RpcPool("amqp://unused", size=2, timeout=5.0, timeouts=timeouts)
    started.method = deadline
    assert pool.call("products", "get_products", [1]) == 0.75  # the method's own
    assert pool.timeout_of("products", "get_product") == 2.0  # the service's
    assert pool.timeout_of("users", "get_user") is None  # RPC_TIMEOUT's
    assert pool.call("products", "get_products", [1]) == 0.75  # given back unchanged


@pytest.mark.parametrize("raw", ["orders", "orders=fast", "orders=0", "=3"])
def test_a_malformed_call_site_timeout_is_refused_by_name(raw):
    with pytest.raises(ValueError, match="RPC_TIMEOUTS"):
        parse_timeouts(raw)


def test_a_client_that_timed_out_is_lent_again(started):
    # The late answer reaches its reply queue, where the next call drops it.
    pool = RpcPool("amqp://unused", size=1, timeout=5.0)

    def late(client, *args):
        raise RpcTimeout(0.5)

    started.method = late
    with pytest.raises(RpcTimeout):
        pool.call_within(0.5, "products", "get_products", [1])
    started.method = deadline
    assert pool.call("products", "get_products", [1]) == 5.0
    [client] = started.clients
    assert not client.stopped


@pytest.mark.parametrize(
    "cut_short",
    [ConnectionLost("connection reset"), KeyboardInterrupt()],
    ids=["its connection broke", "something else interrupted it"],
)
def test_a_client_cut_short_is_thrown_away(started, cut_short):
    # Its connection is gone, or a reply or half a frame may still be on its way.
    pool = RpcPool("amqp://unused", size=1, timeout=5.0)

    def interrupted(client, *args):
        client.usable = False
        raise cut_short

    started.method = interrupted
    with pytest.raises(type(cut_short)):
        pool.call("products", "get_products", [1])
    started.method = deadline
    assert pool.call("products", "get_products", [1]) == 5.0
    first, second = started.clients
    assert first.stopped and not second.stopped


def test_an_idle_client_found_disconnected_is_not_lent(started):
    pool = RpcPool("amqp://unused", size=2, timeout=5.0)
    started.method = deadline
    pool.call("products", "get_products", [1])
    started.clients[0].connected = False  # the broker closed it meanwhile
    assert pool.call("products", "get_products", [1]) == 5.0
    first, second = started.clients
    assert first.stopped and not second.stopped


def test_call_within_waits_no_longer_than_its_timeout_for_a_free_client(started):
    pool = RpcPool("amqp://unused", size=1, timeout=5.0)
    with pool.client():
        began = time.monotonic()
        with pytest.raises(PoolExhausted):
            pool.call_within(0.05, "products", "get_products", [1])
        assert time.monotonic() - began < 1


def test_each_call_carries_the_request_id_of_its_request(started):
    pool = RpcPool("amqp://unused", size=1, timeout=5.0)
    started.method = lambda client, call, context: dict(context)
    token = bind_request_id("req-1")
    try:
        assert pool.call("products", "get_products", [1]) == {"request_id": "req-1"}
    finally:
        reset_request_id(token)
    # The same client, lent next to work without an id, does not carry the previous one.
    assert pool.call("products", "get_products", [1]) == {}
