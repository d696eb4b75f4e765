"""QUEUE_TYPE=quorum on the real broker: the service's queues are quorum, RPC and events work."""

import collections
import uuid

import pytest
from kombu import Connection, Queue
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_waiter

from chassis.inbox import event_handler
from chassis.rpc import rpc

SOURCE = "catalogue"
EVENT = "thing_happened"
HANDLER_QUEUE = f"evt-{SOURCE}-{EVENT}--quorum_demo.handle_thing_happened"
SERVICE_QUEUES = (
    "rpc-quorum_demo",
    HANDLER_QUEUE,
    f"{HANDLER_QUEUE}.retry",
    f"{HANDLER_QUEUE}.dead",
)

attempts: collections.Counter = collections.Counter()


class QuorumDemo:
    name = "quorum_demo"

    @rpc
    def echo(self, value):
        return value

    @event_handler(SOURCE, EVENT)
    def handle_thing_happened(self, body):
        attempts[body["id"]] += 1
        if body.get("fail_once") and attempts[body["id"]] == 1:
            raise RuntimeError("not this time")  # goes round the .retry queue, then back
        return body["id"]


def queue_types(rabbit_manager, config) -> dict[str, str]:
    return {queue["name"]: queue["type"] for queue in rabbit_manager.get_queues(config["vhost"])}


def start(container_factory, config):
    container = container_factory(QuorumDemo, {**config, "EVENT_RETRY_DELAY": 0.05})
    container.start()
    return container


def call_and_publish(container, config, payload) -> None:
    with ServiceRpcProxy("quorum_demo", config, timeout=5) as proxy:
        assert proxy.echo("hello") == "hello"
    dispatch = event_dispatcher(config)
    with entrypoint_waiter(
        container, "handle_thing_happened", callback=lambda ctx, result, exc: result is not None
    ) as waiter:
        dispatch(SOURCE, EVENT, payload)
    assert waiter.get() == payload["id"]


def test_quorum_queues_carry_rpc_calls_and_events(container_factory, rabbit_config, rabbit_manager):
    config = {**rabbit_config, "QUEUE_TYPE": "quorum"}
    container = start(container_factory, config)

    payload = {"id": uuid.uuid4().hex, "fail_once": True}
    call_and_publish(container, config, payload)

    assert attempts[payload["id"]] == 2  # failed, waited in the quorum .retry queue, handled
    types = queue_types(rabbit_manager, config)
    for name in SERVICE_QUEUES:
        assert types[name] == "quorum", name
    replies = [name for name in types if name.startswith("rpc.reply-")]
    assert replies and all(types[name] == "classic" for name in replies)


def test_queues_stay_classic_by_default(container_factory, rabbit_config, rabbit_manager):
    container = start(container_factory, rabbit_config)

    call_and_publish(container, rabbit_config, {"id": uuid.uuid4().hex})

    types = queue_types(rabbit_manager, rabbit_config)
    assert {types[name] for name in SERVICE_QUEUES} == {"classic"}


def test_a_classic_queue_cannot_be_redeclared_quorum(rabbit_config):
    # Why switching QUEUE_TYPE needs the old queues deleted (or a fresh vhost).
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        Queue("rpc-switched", durable=True)(connection.channel()).declare()
        quorum = Queue("rpc-switched", durable=True, queue_arguments={"x-queue-type": "quorum"})
        with pytest.raises(Exception, match="PRECONDITION_FAILED"):
            quorum(connection.channel()).declare()
