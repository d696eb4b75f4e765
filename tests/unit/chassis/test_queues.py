"""Which queues become quorum queues, and that every service's entrypoints ask for it."""

import importlib
import inspect

import pytest
from kombu import Queue
from nameko.events import EventHandler
from nameko.rpc import Rpc

from chassis.inbox import ReliableEventHandler
from chassis.queues import apply_queue_type, queue_type
from chassis.rpc import RpcConsumer

SERVICES = ("users", "products", "orders", "payments", "notifications")
QUORUM = {"QUEUE_TYPE": "quorum"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, "classic"), ("", "classic"), ("classic", "classic"), (" Quorum ", "quorum")],
)
def test_the_queue_type_defaults_to_classic(raw, expected):
    config = {} if raw is None else {"QUEUE_TYPE": raw}
    assert queue_type(config) == expected


def test_an_unknown_queue_type_fails_naming_the_setting():
    with pytest.raises(ValueError, match="QUEUE_TYPE must be one of classic, quorum"):
        queue_type({"QUEUE_TYPE": "stream"})


def test_a_durable_shared_queue_becomes_quorum_keeping_its_arguments():
    queue = Queue("evt-x.retry", durable=True, queue_arguments={"x-dead-letter-exchange": ""})
    apply_queue_type(queue, QUORUM)
    assert queue.queue_arguments == {"x-dead-letter-exchange": "", "x-queue-type": "quorum"}


def test_classic_adds_no_argument_so_existing_queues_still_match():
    queue = Queue("rpc-users", durable=True)
    apply_queue_type(queue, {"QUEUE_TYPE": "classic"})
    assert not queue.queue_arguments


@pytest.mark.parametrize(
    "queue",
    [
        Queue("rpc.reply-client-1", exclusive=True),
        Queue("evt-a-b--c.d", durable=True, auto_delete=True),
        Queue("transient", durable=False),
    ],
    ids=["exclusive", "auto-delete", "not durable"],
)
def test_queues_that_cannot_be_quorum_stay_classic(queue):
    apply_queue_type(queue, QUORUM)
    assert "x-queue-type" not in (queue.queue_arguments or {})


def entrypoints(service_class):
    for _, method in inspect.getmembers(service_class, inspect.isfunction):
        yield from getattr(method, "nameko_entrypoints", ())


@pytest.mark.parametrize("name", SERVICES)
def test_every_queue_of_a_service_follows_its_queue_type(name):
    module = importlib.import_module(f"{name}.service")
    service_class = next(
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if getattr(cls, "name", None) == name
    )
    found = list(entrypoints(service_class))
    assert any(isinstance(entrypoint, Rpc) for entrypoint in found)
    for entrypoint in found:
        if isinstance(entrypoint, Rpc):
            # nameko's own ``rpc`` would declare rpc-<service> classic whatever the setting
            assert isinstance(entrypoint.rpc_consumer, RpcConsumer), entrypoint
        if isinstance(entrypoint, EventHandler):
            assert isinstance(entrypoint, ReliableEventHandler), entrypoint
