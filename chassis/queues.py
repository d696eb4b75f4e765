"""The kind of RabbitMQ queue a service declares: ``classic`` (the default) or ``quorum``.

Set by ``QUEUE_TYPE`` in the service's config. Quorum queues are replicated over the nodes of a
RabbitMQ cluster (Raft), so a service's RPC and event queues, and the messages waiting in them,
outlive the loss of a node; on a single broker they only cost a little throughput.

A quorum queue must be durable and can be neither exclusive nor auto-delete, so queues of that
kind — nameko's reply queues, one per client — stay classic whatever the setting.

RabbitMQ refuses to redeclare an existing queue with another type (``PRECONDITION_FAILED``):
switching a running deployment means deleting its queues first, or moving to a fresh vhost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kombu import Queue

QUEUE_TYPE = "QUEUE_TYPE"
CLASSIC = "classic"
QUORUM = "quorum"
QUEUE_TYPES = (CLASSIC, QUORUM)


def queue_type(config: Mapping[str, Any]) -> str:
    """The configured queue type; fails at start-up, naming the setting, on anything unknown."""
    raw = config.get(QUEUE_TYPE)
    value = CLASSIC if raw is None or str(raw).strip() == "" else str(raw).strip().lower()
    if value not in QUEUE_TYPES:
        raise ValueError(f"{QUEUE_TYPE} must be one of {', '.join(QUEUE_TYPES)}, got {raw!r}")
    return value


def can_be_quorum(queue: Queue) -> bool:
    return bool(queue.durable) and not queue.exclusive and not queue.auto_delete


def apply_queue_type(queue: Queue, config: Mapping[str, Any]) -> Queue:
    """Mark ``queue`` (not declared yet) as a quorum queue when the config asks for one and the
    queue can be one. Classic is RabbitMQ's default, so nothing is added for it: queues declared
    before this setting existed keep matching their declaration."""
    if queue_type(config) == QUORUM and can_be_quorum(queue):
        # kombu defines queue_arguments through its attribute table, out of a type checker's view
        arguments = getattr(queue, "queue_arguments", None) or {}
        setattr(queue, "queue_arguments", {**arguments, "x-queue-type": QUORUM})  # noqa: B010
    return queue
