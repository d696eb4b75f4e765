"""nameko's ``rpc`` entrypoint, declaring ``rpc-<service>`` with the configured queue type, and
calls that expire with their caller's patience.

Every RPC method of a service uses this ``rpc`` (``from chassis.rpc import rpc``), so that its
queue is a quorum queue when ``QUEUE_TYPE`` is ``quorum`` (see ``chassis.queues``).

``call_within`` makes a call that both waits at most ``seconds`` for its answer and expires in
the broker after them: a request the caller has given up on (it waited in a queue while the
service was down, or its message went back to the queue when the service died) is dropped by
the broker instead of being carried out when nobody waits for it any more.

The replies go out through one connection and channel per service (``Replies``), held open,
where nameko builds a connection object and takes a producer from its pool for every reply.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import kombu.serialization
from eventlet.semaphore import Semaphore
from kombu import Connection
from kombu.messaging import Producer
from nameko import rpc as nameko_rpc
from nameko.amqp.publish import get_connection
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    LOGIN_METHOD_CONFIG_KEY,
    NON_PERSISTENT,
)
from nameko.exceptions import UnserializableValueError, serialize
from nameko.extensions import SharedExtension

from chassis import parking
from chassis.consumer import ParkingQueueConsumer
from chassis.queues import apply_queue_type
from chassis.resilience import within

CONFIRM_TIMEOUT = 10.0  # seconds the broker may take to confirm a reply


class Replies(SharedExtension):
    """Publishes a service's RPC replies over one connection and channel, kept open.

    Replies are transient (a reply queue does not outlive its client) and confirmed by the
    broker, as nameko's are. One reply at a time; a publish that fails on a broken connection
    is tried once more on a new one (a reply published twice is harmless: the caller keeps the
    first answer to its call and drops anything else).
    """

    def setup(self) -> None:
        config = self.container.config
        self.exchange = nameko_rpc.get_rpc_exchange(config)
        self._connect_options = {
            "ssl": config.get(AMQP_SSL_CONFIG_KEY),
            "login_method": config.get(LOGIN_METHOD_CONFIG_KEY),
            "transport_options": {"confirm_publish": True},
        }
        self._uri = config[AMQP_URI_CONFIG_KEY]
        self._lock = Semaphore()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._errors: tuple[type[BaseException], ...] = ()

    def publish(self, reply: tuple[str, str, bytes], message: Any) -> None:
        """Publish ``reply`` (``content_type, content_encoding, body`` as kombu serialized it)
        to the caller of ``message``."""
        content_type, content_encoding, body = reply
        properties = message.properties
        with self._lock:
            for attempt in (1, 2):
                producer = self._producer or self._connect()
                try:
                    producer.publish(
                        body,
                        content_type=content_type,
                        content_encoding=content_encoding,
                        exchange=self.exchange,
                        routing_key=properties["reply_to"],
                        correlation_id=properties.get("correlation_id"),
                        delivery_mode=NON_PERSISTENT,
                        retry=False,
                        confirm_timeout=CONFIRM_TIMEOUT,
                    )
                    return
                except self._errors:
                    self._close()
                    if attempt == 2:
                        raise

    def _connect(self) -> Producer:
        self._connection = Connection(self._uri, **self._connect_options)
        self._errors = self._connection.connection_errors + self._connection.channel_errors
        self._producer = Producer(self._connection.default_channel)
        return self._producer

    def _close(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing what is broken already
                connection.close()

    def stop(self) -> None:
        with self._lock:
            self._close()

    kill = stop


class RpcConsumer(nameko_rpc.RpcConsumer):
    """The one consumer of a service's RPC queue, declaring it with the configured type, and
    answering through ``Replies``."""

    queue_consumer = ParkingQueueConsumer()
    replies = Replies()

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

    def handle_result(self, message: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        # nameko's ``Responder.send_response`` (what cannot be sent back is answered as nameko
        # answers it), serializing the reply once and publishing it through ``Replies``.
        error = None if exc_info is None else serialize(exc_info[1])
        serializer = kombu.serialization.registry.type_to_name[message.properties["content_type"]]
        try:
            reply = kombu.serialization.dumps({"result": result, "error": error}, serializer)
        except Exception:
            exc_info = sys.exc_info()
            error = serialize(UnserializableValueError(result))
            result = None
            reply = kombu.serialization.dumps({"result": None, "error": error}, serializer)
        self.replies.publish(reply, message)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class Rpc(nameko_rpc.Rpc):
    rpc_consumer = RpcConsumer()


rpc = Rpc.decorator


class ReplyListener(nameko_rpc.ReplyListener):
    """nameko's, with a transient reply queue.

    nameko declares it durable. On a RabbitMQ cluster a durable classic queue belongs to one
    node, and while that node is down it can be declared on no other: a service whose reply
    queue lived there could consume nothing at all (its one consumer declares every queue) until
    the node came back. A transient queue goes with its node, and the service declares it anew
    on the node it fails over to; replies in flight are lost, and their calls time out as calls
    to a lost service do. It is named anew at every start, so no queue of the old kind clashes.
    """

    queue_consumer = ParkingQueueConsumer()

    def setup(self) -> None:
        super().setup()
        self.queue.durable = False

    @property
    def sharing_key(self) -> type:
        return nameko_rpc.ReplyListener


class RpcProxy(nameko_rpc.RpcProxy):
    """nameko's ``RpcProxy``, sharing the service's one queue consumer (``chassis.consumer``),
    its requests transient.

    nameko makes every request persistent, which a broker writes to disk on the way to a
    durable queue. A request is worth nothing once its caller stopped waiting, and it expires
    with the caller's patience anyway (``call_within``): one lost with a broker that restarts
    times out, as one that no service took in time does. Replies are transient already.
    """

    rpc_reply_listener = ReplyListener()

    def __init__(self, target_service: str, **options: Any) -> None:
        options.setdefault("delivery_mode", NON_PERSISTENT)
        super().__init__(target_service, **options)


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
