"""A lean client for nameko's RPC: one py-amqp connection, one channel, one reply queue.

It speaks nameko's wire protocol (``nameko.rpc``): a JSON ``{"args", "kwargs"}`` request to the
``nameko-rpc`` exchange under ``<service>.<method>``, the caller's context data in ``nameko.*``
headers, and a ``{"result", "error"}`` reply, published by the service to the same exchange
under the request's ``reply_to``, matched to the call by its correlation id. What it leaves out
is what made nameko's standalone client costly for the caller and the broker alike: a kombu
connection and a pooled producer per publish, persistent requests and publisher confirms. The
request is transient (it expires with the caller's patience anyway), and a ``mandatory`` one
that no queue takes comes back (``basic.return``) as nameko's ``UnknownService``, before any
reply could.

Replies come to an exclusive queue that lives as long as the connection. (RabbitMQ's direct
reply-to would spare that queue, but only the default exchange delivers to it: every service
would need the right to publish there, through which it could reach any queue by name. Measured
here, the reply queue costs the broker no more CPU per call.)

A reply with another correlation id (the late answer to a call that timed out) is dropped, so a
client that timed out is as good as new. One call at a time per client.

When ``AMQP_URI`` lists several nodes of a cluster (``chassis.nodes``), a client connects to
the first that answers, starting at the one it is given; ``node`` says which one it reached.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import amqp
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.utils import json
from kombu.utils.url import url_to_parts
from nameko.constants import NON_PERSISTENT
from nameko.exceptions import RpcTimeout, UnknownService, deserialize

from chassis.nodes import nodes

_log = logging.getLogger(__name__)

RPC_EXCHANGE = "nameko-rpc"
# Named as nameko names a standalone client's reply queue (the broker users' rights expect it).
REPLY_QUEUE = "rpc.reply-standalone_rpc_proxy-{}"
CONTENT_TYPE = "application/json"
HEADER_PREFIX = "nameko."
CALL_ID_STACK = "call_id_stack"
# How nameko's standalone client names its calls (``<service>.<method>.<id>``).
CALLER = "standalone_rpc_proxy.call"
CLOSE_TIMEOUT = 1.0

# What says the connection (or the broker) is gone. OSError covers the socket's errors;
# ``socket.timeout`` is one too, and is told apart first.
_LOST = (AmqpConnectionError, OSError)


class ConnectionLost(ConnectionError):
    """The client's connection to the broker broke: the client is of no further use."""


class AmqpRpcClient:
    """Calls nameko services over one connection of its own, one call at a time."""

    def __init__(self, amqp_uri: str, connect_timeout: float = 5.0, first: int = 0) -> None:
        self._nodes = [_connection(uri, connect_timeout) for uri in nodes(amqp_uri)]
        self.node = first % len(self._nodes)  # the node tried first, then the one connected to
        self._connection = self._nodes[self.node]
        self._reply_to = str(uuid.uuid4())  # the routing key of replies to this client
        self._waiting: str | None = None  # the correlation id of the call in flight
        self._reply: amqp.Message | None = None
        self._returned = False
        # False from a call's start until it ends in a known state: a call cut short by
        # anything else may leave a frame half read, or a reply it did not wait for.
        self.usable = False

    def connect(self) -> AmqpRpcClient:
        """Connect to the first node that answers, trying each once from ``node`` on."""
        count = len(self._nodes)
        for tried in range(count):
            index = (self.node + tried) % count
            try:
                channel = self._open(self._nodes[index])
            except ConnectionLost:
                if tried == count - 1:
                    raise
                _log.info("broker node %d of %d did not answer: trying the next", index + 1, count)
                continue
            self.node, self._connection, self._channel = index, self._nodes[index], channel
            self.usable = True
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self, connection: amqp.Connection) -> Any:
        try:
            connection.connect()
            channel = connection.channel()
            channel.events["basic_return"].add(self._on_return)
            # Declared as nameko's clients do, in case no service declared it yet.
            channel.exchange_declare(RPC_EXCHANGE, "topic", durable=True, auto_delete=False)
            queue = REPLY_QUEUE.format(self._reply_to)
            channel.queue_declare(queue, exclusive=True, auto_delete=True)
            channel.queue_bind(queue, RPC_EXCHANGE, self._reply_to)
            channel.basic_consume(queue, no_ack=True, callback=self._on_reply)
        except BaseException as exc:
            connection.collect()
            if isinstance(exc, _LOST):
                raise ConnectionLost(f"cannot reach the broker: {exc!r}") from exc
            raise  # refused (credentials, rights): as it is
        return channel

    def call(
        self,
        service: str,
        method: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: Mapping[str, Any],
        timeout: float,
        context: Mapping[str, Any] | None = None,
    ) -> Any:
        """``service.method(*args, **kwargs)``, waiting at most ``timeout`` seconds for the
        answer (``RpcTimeout`` after); the request expires in the broker after as long.
        ``context`` is the call's context data (``request_id``, the trace context...)."""
        correlation_id = str(uuid.uuid4())
        message = amqp.Message(
            json.dumps({"args": args, "kwargs": kwargs}).encode(),
            content_type=CONTENT_TYPE,
            content_encoding="utf-8",
            delivery_mode=NON_PERSISTENT,
            reply_to=self._reply_to,
            correlation_id=correlation_id,
            expiration=str(max(int(timeout * 1000), 1)),
            application_headers=_headers(context or {}, f"{CALLER}.{correlation_id}"),
        )
        self.usable = False
        self._waiting, self._reply, self._returned = correlation_id, None, False
        try:
            self._channel.basic_publish(
                message, RPC_EXCHANGE, f"{service}.{method}", mandatory=True
            )
            reply = self._wait(timeout)
        except RpcTimeout:
            self.usable = True
            raise
        except _LOST as exc:
            raise ConnectionLost(f"lost the broker during {service}.{method}: {exc!r}") from exc
        finally:
            self._waiting = None
        self.usable = True
        if reply is None:
            raise UnknownService(service)
        return _result(reply)

    def _wait(self, timeout: float) -> amqp.Message | None:
        """Our reply, or None when the request came back unrouted."""
        deadline = time.monotonic() + timeout
        while self._reply is None and not self._returned:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RpcTimeout(timeout)
            try:
                self._connection.drain_events(timeout=remaining)
            except TimeoutError:  # socket.timeout
                raise RpcTimeout(timeout) from None
        return self._reply

    def _on_reply(self, message: amqp.Message) -> None:
        correlation_id = message.properties.get("correlation_id")
        if correlation_id == self._waiting:
            self._reply = message
        else:
            _log.debug("dropped a reply nobody waits for any more: %s", correlation_id)

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        if message.properties.get("correlation_id") == self._waiting:
            self._returned = True

    def alive(self) -> bool:
        """Whether the connection still stands, without waiting: reads whatever the broker sent
        meanwhile (late replies, which are dropped, or its closing the connection)."""
        if not self.usable:
            return False
        try:
            while True:
                self._connection.drain_events(timeout=0)
        except TimeoutError:  # socket.timeout: nothing more to read, all is well
            return True
        except Exception as exc:
            _log.info("an idle RPC client lost its connection: %r", exc)
            self.usable = False
            return False

    def close(self) -> None:
        try:
            if self.usable:
                with self._connection.transport.having_timeout(CLOSE_TIMEOUT):
                    self._connection.close()
                return
        except Exception:  # the connection is usually gone already
            _log.debug("error while closing an RPC client", exc_info=True)
        self._connection.collect()


def _connection(amqp_uri: str, connect_timeout: float) -> amqp.Connection:
    parts = url_to_parts(amqp_uri)
    tls = parts.scheme == "amqps"
    return amqp.Connection(
        host=f"{parts.hostname or 'localhost'}:{parts.port or (5671 if tls else 5672)}",
        ssl=tls,
        userid=parts.username or "guest",
        password=parts.password or "guest",
        virtual_host=parts.path or "/",
        connect_timeout=connect_timeout,
    )


def _headers(context: Mapping[str, Any], call_id: str) -> dict[str, Any]:
    # As nameko's HeaderEncoder: each context key under the prefix, None values left out.
    headers = {
        f"{HEADER_PREFIX}{key}": value for key, value in context.items() if value is not None
    }
    headers[f"{HEADER_PREFIX}{CALL_ID_STACK}"] = [call_id]
    return headers


def _result(reply: amqp.Message) -> Any:
    body = json.loads(reply.body)
    error = body.get("error")
    if error:
        raise deserialize(error)
    return body["result"]
