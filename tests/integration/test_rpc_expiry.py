"""A request its caller gave up on is never carried out later: it expires in the broker with
the caller's timeout, whether the caller is the gateway or a service."""

import time
import uuid

import eventlet
import pytest
from kombu import Connection
from nameko.exceptions import RpcTimeout
from nameko.rpc import RpcProxy
from nameko.testing.services import entrypoint_hook

from chassis.resilience import CallTimeout
from chassis.rpc import call_within, rpc
from gateway.rpc import RpcPool

DONE: list[str] = []


class Probe:
    """Records every request it carries out."""

    name = "expiry_probe"

    @rpc
    def touch(self, token):
        DONE.append(token)
        return token


class Caller:
    name = "expiry_caller"
    probe = RpcProxy("expiry_probe")

    @rpc
    def touch_within(self, token, seconds):
        return call_within(self.probe, "touch", seconds, token)


@pytest.fixture
def probe_queue(container_factory, rabbit_config):
    """The probe's queue exists (the service ran once) but nothing consumes it now."""
    container = container_factory(Probe, rabbit_config)
    container.start()
    container.stop()
    return container_factory


def start_probe(container_factory, config):
    container = container_factory(Probe, config)
    container.start()
    eventlet.sleep(1.0)  # long enough to take whatever waits in its queue
    return container


def queued(config) -> int:
    with Connection(config["AMQP_URI"]) as connection:
        channel = connection.default_channel
        return channel.queue_declare("rpc-expiry_probe", passive=True).message_count


def test_a_gateway_call_that_timed_out_is_not_carried_out_later(probe_queue, rabbit_config):
    pool = RpcPool(rabbit_config["AMQP_URI"], size=1, timeout=0.5)
    token = uuid.uuid4().hex
    try:
        with pytest.raises(RpcTimeout):
            pool.call("expiry_probe", "touch", token)
        time.sleep(0.6)
        assert queued(rabbit_config) == 0  # expired in the queue
        start_probe(probe_queue, rabbit_config)
        assert token not in DONE
        # A call made while the service runs is carried out as ever.
        assert pool.call("expiry_probe", "touch", "fresh") == "fresh"
    finally:
        pool.close()


def test_a_service_call_that_timed_out_is_not_carried_out_later(probe_queue, rabbit_config):
    caller = probe_queue(Caller, rabbit_config)
    caller.start()
    token = uuid.uuid4().hex
    with entrypoint_hook(caller, "touch_within") as touch_within, pytest.raises(CallTimeout):
        touch_within(token, 0.3)
    eventlet.sleep(0.5)
    start_probe(probe_queue, rabbit_config)
    assert token not in DONE
    with entrypoint_hook(caller, "touch_within") as touch_within:
        assert touch_within("fresh", 5) == "fresh"
