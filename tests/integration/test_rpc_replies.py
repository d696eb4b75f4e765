"""A service's RPC replies (``chassis.rpc.Replies``: one connection kept open per service) reach
their callers: many at once, after the broker closed the connection under it, and as nameko's
``UnserializableValueError`` when the result cannot be sent."""

from __future__ import annotations

import eventlet
import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from chassis.rpc import RpcProxy, rpc
from tests.integration.test_gateway_amqp_rpc import close_connections


class Replier:
    name = "replies_probe"

    @rpc
    def echo(self, value):
        eventlet.sleep(0.01)  # long enough for the calls to overlap
        return value

    @rpc
    def unsendable(self):
        return object()


@pytest.fixture
def replier(container_factory, rabbit_config):
    container = container_factory(Replier, rabbit_config)
    container.start()
    return container


def test_many_concurrent_callers_each_get_their_own_reply(replier, rabbit_config):
    with ClusterRpcProxy(rabbit_config) as cluster:
        pending = [(n, cluster.replies_probe.echo.call_async(n)) for n in range(50)]
        assert [reply.result() for _, reply in pending] == [n for n, _ in pending]


def test_replies_resume_after_the_broker_closed_their_connection(replier, rabbit_config):
    with ClusterRpcProxy(rabbit_config) as cluster:
        assert cluster.replies_probe.echo("before") == "before"
    close_connections(rabbit_config["vhost"])
    eventlet.sleep(1.0)  # the service's consumer reconnects
    with ClusterRpcProxy(rabbit_config, timeout=10) as cluster:
        assert cluster.replies_probe.echo("after") == "after"
        assert cluster.replies_probe.echo("again") == "again"


def test_a_result_that_cannot_be_sent_is_answered_as_an_error(replier, rabbit_config):
    with ClusterRpcProxy(rabbit_config, timeout=10) as cluster:
        with pytest.raises(RemoteError) as raised:
            cluster.replies_probe.unsendable()
        assert raised.value.exc_type == "UnserializableValueError"
        assert cluster.replies_probe.echo("still answering") == "still answering"


class Caller:
    name = "reply_queue_probe"
    replier = RpcProxy("replies_probe")

    @rpc
    def relay(self, value):
        return self.replier.echo(value)


def test_a_service_waits_for_its_answers_on_a_transient_queue(
    replier, container_factory, rabbit_config, rabbit_manager
):
    """On a cluster, a durable queue on a stopped node can be declared on no other: the service
    could then consume nothing until that node came back (see ``chassis.rpc.ReplyListener``)."""
    caller = container_factory(Caller, rabbit_config)
    caller.start()
    with ClusterRpcProxy(rabbit_config, timeout=5) as cluster:
        assert cluster.reply_queue_probe.relay("through") == "through"
    queues = {q["name"]: q for q in rabbit_manager.get_queues(rabbit_config["vhost"])}
    (reply_queue,) = [name for name in queues if name.startswith("rpc.reply-reply_queue_probe-")]
    assert queues[reply_queue]["durable"] is False
    assert queues[reply_queue]["arguments"] == {"x-expires": 300000}  # nameko's, kept
