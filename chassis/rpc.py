"""nameko's ``rpc`` entrypoint, declaring ``rpc-<service>`` with the configured queue type, and
calls that expire with their caller's patience.

Every RPC method of a service uses this ``rpc`` (``from chassis.rpc import rpc``), so that its
queue is a quorum queue when ``QUEUE_TYPE`` is ``quorum`` (see ``chassis.queues``).

``call_within`` makes a call that both waits at most ``seconds`` for its answer and expires in
the broker after them: a request the caller has given up on (it waited in a queue while the
service was down, or its message went back to the queue when the service died) is dropped by
the broker instead of being carried out when nobody waits for it any more.
"""

from __future__ import annotations

from typing import Any

from nameko import rpc as nameko_rpc
from nameko.amqp.publish import get_connection
from nameko.constants import AMQP_URI_CONFIG_KEY

from chassis import parking
from chassis.consumer import ParkingQueueConsumer
from chassis.queues import apply_queue_type
from chassis.resilience import within


class RpcConsumer(nameko_rpc.RpcConsumer):
    """The one consumer of a service's RPC queue, declaring it with the configured type."""

    queue_consumer = ParkingQueueConsumer()

    @property
    def sharing_key(self) -> type:
        # Shared under nameko's own key: a method decorated with nameko's ``rpc`` in the same
        # service then finds this consumer instead of starting a second one on ``rpc-<service>``,
        # which would take half of the calls and answer them MethodNotFound.
        return nameko_rpc.RpcConsumer

    def setup(self) -> None:
        super().setup()
        config = self.container.config
        apply_queue_type(self.queue, config)
        # Declared up front, as the event handlers' are: where a request that cannot even be
        # decoded is parked, to be watched before anything fails.
        dead = parking.dead_queue(self.container.service_name, self.queue.name, config)
        with get_connection(config[AMQP_URI_CONFIG_KEY]) as connection:
            dead(connection.default_channel).declare()


class Rpc(nameko_rpc.Rpc):
    rpc_consumer = RpcConsumer()


rpc = Rpc.decorator


class ReplyListener(nameko_rpc.ReplyListener):
    queue_consumer = ParkingQueueConsumer()

    @property
    def sharing_key(self) -> type:
        return nameko_rpc.ReplyListener


class RpcProxy(nameko_rpc.RpcProxy):
    """nameko's ``RpcProxy``, sharing the service's one queue consumer (``chassis.consumer``)."""

    rpc_reply_listener = ReplyListener()


def expiring(proxy: Any, seconds: float) -> Any:
    """``proxy`` (a nameko ``ServiceProxy``) whose requests expire after ``seconds`` in the
    broker; anything else (a test double) is given back as it is."""
    if not isinstance(proxy, nameko_rpc.ServiceProxy):
        return proxy
    options = {**proxy.options, "expiration": max(seconds, 0.001)}
    return nameko_rpc.ServiceProxy(
        proxy.worker_ctx, proxy.service_name, proxy.reply_listener, **options
    )


def call_within(proxy: Any, method: str, seconds: float, *args: Any, **kwargs: Any) -> Any:
    """``proxy.<method>(*args, **kwargs)``, waiting at most ``seconds`` for the answer
    (``CallTimeout`` after), the request expiring in the broker after as long."""
    return within(seconds, getattr(expiring(proxy, seconds), method), *args, **kwargs)
