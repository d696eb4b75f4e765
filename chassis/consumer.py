"""nameko's queue consumer, except that a message it cannot decode is parked, never dropped.

kombu hands a message it cannot decode (not JSON, a content type the service does not accept)
to the consumer's ``on_decode_error``, and nameko keeps kombu's default, which logs and acks it:
the message is gone. Here it is published, as it arrived, to ``<queue>.dead`` (see
``chassis.parking``) and counted in ``shop_events_dead_lettered_total``, as any other poison
message is; only then is it acked. A reply that cannot be decoded (nobody could read it) is
logged and dropped.

A service has one queue consumer, shared by its RPC entrypoint, its event handlers and its RPC
proxies' reply listener, and the first of them to be bound brings its own: each of them in
``chassis`` brings this one (``chassis.rpc.rpc``, ``chassis.rpc.RpcProxy``,
``chassis.inbox.event_handler``). ``tests/unit/chassis`` checks that every service gets it.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.messaging import QueueConsumer
from nameko.rpc import ReplyListener

from chassis import parking
from chassis.metrics import EVENTS_DEAD

_log = logging.getLogger(__name__)

RPC_REQUEST = "rpc"  # the event_type label of an RPC request parked


class ParkingQueueConsumer(QueueConsumer):
    @property
    def sharing_key(self) -> type:
        # nameko's own key, so that an extension still declaring nameko's QueueConsumer finds
        # this one rather than starting a second consumer (and connection) of its own.
        return QueueConsumer

    def setup(self) -> None:
        super().setup()
        self._publisher: Publisher | None = None

    def get_consumers(self, consumer_cls: Any, channel: Any) -> Any:
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = partial(self.on_undecodable, provider)
        return consumers

    def on_undecodable(self, provider: Any, message: Any, exc: Exception) -> None:
        """Park ``message`` in the dead-letter queue of the queue it came from, then ack it; if
        it cannot be parked now, give it back to the broker to be tried again."""
        queue = provider.queue.name
        error = f"undecodable: {type(exc).__name__}: {exc}"
        if isinstance(provider, ReplyListener):
            _log.error("%s: dropped a reply that cannot be decoded (%s)", queue, error)
            self.ack_message(message)
            return
        service = self.container.service_name
        event_type = getattr(provider, "event_type", None)
        try:
            parking.publish_raw(
                self.publisher,
                message,
                parking.dead_queue(service, queue, self.container.config),
                parking.parking_headers(message, queue, error, attempts=1, event_type=event_type),
            )
        except Exception:
            _log.exception("%s: could not park a message that cannot be decoded", queue)
            self.requeue_message(message)
            return
        EVENTS_DEAD.labels(service, event_type or RPC_REQUEST).inc()
        _log.error(
            "%s: parked a message that cannot be decoded in %s.dead: %s", queue, queue, error
        )
        self.ack_message(message)

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = Publisher(
                self.container.config[AMQP_URI_CONFIG_KEY], use_confirms=True, retry=True
            )
        return self._publisher
