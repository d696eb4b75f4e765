"""A request its caller gave up on is never carried out later: it expires in the broker with
the caller's timeout, whether the caller is the gateway or a service; and no request is written
to the broker's disk on its way (they are transient)."""

import time
import uuid

import eventlet
import pytest
from kombu import Connection
from nameko.exceptions import RpcTimeout
from nameko.rpc import RpcProxy
from nameko.testing.services import entrypoint_hook

from chassis.resilience import CallTimeout
from chassis.rpc import RpcProxy as ChassisRpcProxy
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


class ShopCaller(Caller):
    """A service of the shop: its proxies are ``chassis.rpc``'s."""

    name = "expiry_shop_caller"
    probe = ChassisRpcProxy("expiry_probe")


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


def test_a_services_requests_are_transient_and_expire(probe_queue, rabbit_config):
    caller = probe_queue(ShopCaller, rabbit_config)
    caller.start()
    token = uuid.uuid4().hex

    def call():
        with entrypoint_hook(caller, "touch_within") as touch_within:
            return touch_within(token, 2)

    waiting = eventlet.spawn(call)
    request = None
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        for _ in range(50):
            eventlet.sleep(0.05)
            request = connection.default_channel.basic_get("rpc-expiry_probe", no_ack=True)
            if request is not None:
                break
    assert request is not None
    assert request.properties["delivery_mode"] == 1  # transient: never written to disk
    assert request.properties["expiration"] == "2000"
    with pytest.raises(CallTimeout):
        waiting.wait()  # taken off the queue here: never answered
