"""The gateway's lean RPC client against real nameko services: nameko's wire protocol both ways
(results, typed remote errors, context headers), unknown services, timeouts whose late answers
never reach the next caller, many callers at once, and the broker closing its connections (what
a broker restart does): clients that sat idle meanwhile are not lent, and the request is carried
out once."""

import shutil
import subprocess
import threading
import time
import uuid

import eventlet
import pytest
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.extensions import DependencyProvider
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from chassis.contracts.errors import UserNotFound
from chassis.logs import bind_request_id, reset_request_id
from chassis.rpc import rpc
from gateway.amqp_rpc import AmqpRpcClient
from gateway.rpc import RpcPool

DONE: list[str] = []


def close_connections(vhost: str) -> None:
    """What a broker restart does to every client: its connections are closed under it."""
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        pytest.fail("rabbitmqctl is not on PATH: install rabbitmq-server (`make stack`)")
    subprocess.run(
        [tool, "close_all_connections", "-p", vhost, "the broker restarts"],
        check=True,
        capture_output=True,
        timeout=60,
    )


class ContextOf(DependencyProvider):
    """What the worker received besides its arguments: its context data and call id stack."""

    def get_dependency(self, worker_ctx):
        return {"data": dict(worker_ctx.data), "call_id_stack": worker_ctx.call_id_stack}


class Probe:
    name = "lean_probe"
    context = ContextOf()

    @rpc
    def echo(self, value, suffix=""):
        return f"{value}{suffix}"

    @rpc
    def touch(self, token):
        DONE.append(token)
        return token

    @rpc
    def get_user(self, user_id):
        raise UserNotFound("No such user", {"id": user_id})

    @rpc
    def slow(self, seconds, token):
        eventlet.sleep(seconds)
        return token

    @rpc
    def whoami(self):
        return self.context


@pytest.fixture
def probe(container_factory, rabbit_config):
    container = container_factory(Probe, rabbit_config)
    container.start()
    return container


@pytest.fixture
def pool(rabbit_config):
    pool = RpcPool(rabbit_config["AMQP_URI"], size=4, timeout=5)
    yield pool
    pool.close()


def counting(pool):
    """The clients ``pool`` connects from now on."""
    started = []
    start = pool._start

    def counted():
        started.append(start())
        return started[-1]

    pool._start = counted
    return started


def test_a_call_returns_its_result(probe, pool):
    assert pool.call("lean_probe", "echo", "hello", suffix="!") == "hello!"


def test_a_remote_error_comes_back_as_its_own_class(probe, pool):
    with pytest.raises(UserNotFound) as raised:
        pool.call("lean_probe", "get_user", "u-42")
    assert raised.value.message == "No such user"
    assert raised.value.fields == {"id": "u-42"}


def test_a_call_to_an_unknown_service_fails_at_once(pool):
    began = time.monotonic()
    with pytest.raises(UnknownService):
        pool.call_within(5, "no_such_service", "anything")
    assert time.monotonic() - began < 1
    assert len(pool._idle.queue) == 1  # and the client is lent again


def test_a_late_answer_never_reaches_the_next_call(probe, pool):
    started = counting(pool)
    with pytest.raises(RpcTimeout):
        pool.call_within(0.3, "lean_probe", "slow", 0.6, "late")
    time.sleep(0.5)  # the late answer has arrived meanwhile
    assert pool.call("lean_probe", "echo", "fresh") == "fresh"
    with pytest.raises(RpcTimeout):
        pool.call_within(0.2, "lean_probe", "slow", 0.4, "late again")
    # The next call is made while that answer is still on its way.
    assert pool.call("lean_probe", "slow", 0.5, "mine") == "mine"
    assert len(started) == 1  # one client did all of it


def test_the_request_id_and_trace_context_reach_the_service(probe, pool):
    parent = SpanContext(
        trace_id=uuid.uuid4().int >> 64 << 64 | 1,
        span_id=uuid.uuid4().int >> 65,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    request_id = f"req-{uuid.uuid4().hex}"
    token = bind_request_id(request_id)
    try:
        with trace.use_span(NonRecordingSpan(parent)):
            seen = pool.call("lean_probe", "whoami")
    finally:
        reset_request_id(token)
    assert seen["data"]["request_id"] == request_id
    traceparent = seen["data"]["traceparent"]
    assert traceparent == f"00-{parent.trace_id:032x}-{parent.span_id:016x}-01"
    caller, own = seen["call_id_stack"]
    assert caller.startswith("standalone_rpc_proxy.call.")
    assert own.startswith("lean_probe.whoami.")
    # A call made without a request id or a span sends neither.
    assert set(pool.call("lean_probe", "whoami")["data"]) == set()


def test_many_callers_each_get_their_own_answer(probe, pool):
    wrong: list[tuple[str, str]] = []
    failed: list[BaseException] = []

    def caller(n):
        try:
            for i in range(50):
                asked = f"{n}-{i}-{uuid.uuid4().hex[:6]}"
                answer = pool.call("lean_probe", "echo", asked)
                if answer != asked:
                    wrong.append((asked, answer))
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failed
    assert not wrong
    assert len(pool._idle.queue) <= 4  # never more clients than the pool's size


def test_a_call_after_the_broker_closed_every_connection_is_carried_out_once(
    probe, pool, rabbit_config
):
    assert pool.call("lean_probe", "echo", "before") == "before"
    close_connections(rabbit_config["vhost"])
    token = uuid.uuid4().hex
    assert pool.call_within(15, "lean_probe", "touch", token) == token
    assert DONE.count(token) == 1


def test_a_client_the_broker_disconnected_while_idle_is_not_lent(
    container_factory, rabbit_config, pool
):
    with pool.client(), pool.client():  # two connected clients, both idle afterwards
        pass
    close_connections(rabbit_config["vhost"])
    container_factory(Probe, rabbit_config).start()
    token = uuid.uuid4().hex
    assert pool.call("lean_probe", "touch", token) == token
    assert pool.call("lean_probe", "touch", "again") == "again"
    assert DONE.count(token) == 1


def test_a_client_that_cannot_reach_the_broker_says_so():
    client = AmqpRpcClient("amqp://guest:guest@127.0.0.1:1/")
    with pytest.raises(ConnectionError):
        client.connect()


def test_a_client_given_a_clusters_nodes_connects_to_the_first_that_answers(probe, rabbit_config):
    """``AMQP_URI`` listing nodes (``chassis.nodes``): a node that refuses is passed over, and
    the pool's next clients try the node that answered first."""
    dead = "amqp://guest:guest@127.0.0.1:1/"
    uri = f"{dead};{rabbit_config['AMQP_URI']}"
    pool = RpcPool(uri, size=2, timeout=5)
    try:
        with pool.client() as client:
            assert client.node == 1
            assert client.call("lean_probe", "echo", ["over"], {}, 5) == "over"
        assert pool._first_node == 1
        assert pool.call("lean_probe", "echo", "again") == "again"
    finally:
        pool.close()
    with pytest.raises(ConnectionError):  # no node answers
        AmqpRpcClient(f"{dead};amqp://guest:guest@127.0.0.1:2/").connect()
