"""Where a message that cannot be handled goes: ``<queue>.retry`` to wait, ``<queue>.dead`` to
stay until a person looks at it (``python -m chassis.deadletters``).

Both are reached through the service's own direct exchange, ``<service>.dlx``, never through
the broker's default exchange: a service's broker user may then be denied the default exchange,
through which it could otherwise send anything to any queue (another service's RPC queue
included). A ``.retry`` queue dead-letters its messages back to their queue, through the
default exchange, when their time is up: that is the broker's own doing, which needs no
permission, but *declaring* such a queue needs write access to the default exchange. So the
deploy step declares the ``.retry`` queues (``chassis.topology``, as the operator), and a
service only looks them up (``declare_retry_queue``), declaring one itself only when it is
missing and its broker user may (a test's, or a single-user setup).

A parked message keeps its body as it arrived (even one that could not be decoded) and its
headers, with these added:

``x-original-queue``   the queue it was taken from, where a replay puts it back
``x-event-type``       the event's type (absent for an RPC request)
``x-error``            why it was parked, ``x-error-traceback`` where, when there is one
``x-attempts``         how many times it was tried
``x-failed-at``        when it was parked (ISO 8601, UTC)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from amqp.exceptions import NotFound
from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher

from chassis.queues import apply_queue_type

RETRY_SUFFIX = ".retry"
DEAD_SUFFIX = ".dead"
ORIGINAL_QUEUE = "x-original-queue"
EVENT_TYPE = "x-event-type"
ERROR = "x-error"
TRACEBACK = "x-error-traceback"
ATTEMPTS = "x-attempts"
LAST_ERROR = "x-last-error"  # set by each retry
FAILED_AT = "x-failed-at"
ORIGINAL_CONTENT_TYPE = "x-original-content-type"
RAW = "application/octet-stream"  # how a body without a content type is parked


def exchange(service: str) -> Exchange:
    """The service's own exchange for its retry and dead-letter queues."""
    return Exchange(f"{service}.dlx", type="direct", durable=True)


def dead_queue(service: str, queue: str, config: Mapping[str, Any]) -> Queue:
    name = f"{queue}{DEAD_SUFFIX}"
    return apply_queue_type(
        Queue(name, exchange=exchange(service), routing_key=name, durable=True), config
    )


def retry_queue(service: str, queue: str, config: Mapping[str, Any]) -> Queue:
    """Holds a failed message for its per-message TTL, then hands it back to ``queue``."""
    name = f"{queue}{RETRY_SUFFIX}"
    return apply_queue_type(
        Queue(
            name,
            exchange=exchange(service),
            routing_key=name,
            durable=True,
            queue_arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue},
        ),
        config,
    )


def declare_retry_queue(queue: Queue, connection: Any) -> None:
    """Make sure ``queue`` (a ``.retry`` queue) exists and is bound to the service's exchange,
    declaring it only if it is missing (see above)."""
    channel = connection.channel()
    try:
        channel.queue_declare(queue.name, passive=True)
    except NotFound:  # which closed that channel
        queue(connection.channel()).declare()
        return
    bound = queue(channel)
    bound.exchange.declare()
    bound.queue_bind()  # a binding is no argument of the queue's: the service may add it


def parking_headers(
    message: Any, queue: str, error: str, attempts: int, event_type: str | None = None
) -> dict[str, Any]:
    """``message``'s headers with the marks of a parked message."""
    headers = dict(message.headers or {})
    headers.update(
        {
            ORIGINAL_QUEUE: queue,
            ERROR: error[:1000],
            ATTEMPTS: attempts,
            FAILED_AT: datetime.now(UTC).isoformat(),
        }
    )
    if event_type:
        headers[EVENT_TYPE] = event_type
    return headers


def publish_raw(
    publisher: Publisher,
    message: Any,
    queue: Queue,
    headers: dict[str, Any],
    declare: bool = True,
    **kwargs: Any,
) -> None:
    """Publish ``message``'s body to ``queue`` exactly as it arrived: its bytes, content type
    and encoding, whether or not they could be decoded. ``mandatory``: a queue that is not
    bound (the deploy step was not run) is an error, not a message dropped. ``declare=False``
    for a queue the publisher's user may not declare (a ``.retry`` queue, see above)."""
    content_type = message.content_type or RAW
    if not message.content_type:
        headers = {**headers, ORIGINAL_CONTENT_TYPE: ""}
    publisher.publish(
        message.body,
        exchange=queue.exchange,
        routing_key=queue.routing_key,
        declare=[queue] if declare else [],
        mandatory=True,
        headers=headers,
        content_type=content_type,
        content_encoding=message.content_encoding or "binary",
        message_id=message.properties.get("message_id"),
        **kwargs,
    )
