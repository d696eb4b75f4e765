"""Read what sits in the ``<queue>.dead`` queues, and move it back once the cause is fixed.

    python -m chassis.deadletters list                          # every service's .dead queues
    python -m chassis.deadletters list notifications --json     # one JSON object a line
    python -m chassis.deadletters list --queue rpc-orders.dead
    python -m chassis.deadletters replay QUEUE.dead --id ID [--id ID ...]
    python -m chassis.deadletters replay QUEUE.dead --all

``list`` takes nothing away. A message's id is its AMQP ``message_id`` (an event's id), else
``sha256:`` and the start of its body's digest. ``replay`` puts the chosen messages back in the
queue named by their ``x-original-queue``, as parked but without the parking marks, so that they
get all their attempts again. Each is acked in the dead queue only once the broker confirmed it
in its queue (at least once: a handler's inbox ignores an event it already handled); the others
stay, in their order. An id that is not found moves nothing.

Replaying publishes to the broker's default exchange (``""``), which only an operator's
(administrator's) broker user may do: the services' own users are denied it on purpose (see
``chassis.parking``). Give that user's URI with ``--amqp-uri`` or ``AMQP_URI``; without either,
the ``AMQP_URI`` of the owning service's ``config.yaml`` is used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from amqp import Message
from amqp.exceptions import AMQPError, NotFound
from kombu import Connection
from nameko.constants import AMQP_URI_CONFIG_KEY

from chassis import parking, topology
from chassis.config import service_config

REPLAYED_AT = "x-replayed-at"
# x-delivery-count: a quorum queue's count of redeliveries, which replay starts afresh too.
PARKING_MARKS = (
    parking.ERROR,
    parking.TRACEBACK,
    parking.FAILED_AT,
    parking.ATTEMPTS,
    parking.LAST_ERROR,
    "x-delivery-count",
)
PREVIEW_WIDTH = 80
ERROR_WIDTH = 200
DEFAULT_LIMIT = 10_000
CONFIRM_TIMEOUT = 30.0


@dataclass(frozen=True)
class Parked:
    """A message taken from a dead-letter queue (not acked yet)."""

    body: bytes
    properties: dict[str, Any]
    delivery_tag: int = 0

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.get("application_headers") or {})

    @property
    def id(self) -> str:
        given = self.properties.get("message_id")
        return str(given) if given else "sha256:" + hashlib.sha256(self.body).hexdigest()[:12]


@dataclass
class Listing:
    queue: str
    declared: bool
    ready: int = 0  # messages in the queue, including those beyond the limit
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Replayed:
    moved: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None
    left: int = 0  # messages still in the dead queue


def printable(text: str) -> str:
    """``text`` on one line, with every control character (terminal escapes included) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def preview(body: bytes, width: int = PREVIEW_WIDTH) -> str:
    """The start of ``body`` as printable text, whatever bytes it holds."""
    head = body[: width * 4]  # enough bytes for ``width`` characters, even in UTF-8
    text = printable(head.decode("utf-8", errors="backslashreplace"))
    return shorten(text, width) if len(head) == len(body) else shorten(text + "...", width)


def row(message: Parked) -> dict[str, Any]:
    """What ``list`` shows of a parked message: JSON-safe, and every text printable, since any
    client may have set any header."""
    headers = message.headers
    fields = {
        "id": message.id,
        "event_type": headers.get(parking.EVENT_TYPE),
        "error": str(headers.get(parking.ERROR, "")),
        "attempts": headers.get(parking.ATTEMPTS),
        "failed_at": headers.get(parking.FAILED_AT),
        "original_queue": headers.get(parking.ORIGINAL_QUEUE),
        "content_type": message.properties.get("content_type"),
        "size": len(message.body),
        "preview": preview(message.body),
    }
    return {key: printable(v) if isinstance(v, str) else v for key, v in fields.items()}


def format_row(fields: dict[str, Any]) -> str:
    return (
        f"    {fields['id']}  {fields['event_type'] or '-'}  attempts {fields['attempts']}"
        f"  parked {fields['failed_at']}\n"
        f"      error: {shorten(fields['error'], ERROR_WIDTH)}\n"
        f"      body:  {fields['preview']}"
    )


def choose(messages: Sequence[Parked], ids: Sequence[str] | None) -> tuple[list[Parked], list[str]]:
    """The messages with one of ``ids`` (every copy of each), in queue order, and the ids found
    in none; ``None`` chooses them all."""
    if ids is None:
        return list(messages), []
    wanted = set(ids)
    chosen = [message for message in messages if message.id in wanted]
    found = {message.id for message in chosen}
    return chosen, [i for i in dict.fromkeys(ids) if i not in found]


def replay_properties(properties: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The properties to publish a parked message again with: as parked, minus the parking
    marks (so it gets its full set of attempts again), plus when it was replayed."""
    properties = dict(properties)
    parked = properties.get("application_headers") or {}
    headers = {key: value for key, value in parked.items() if key not in PARKING_MARKS}
    if headers.pop(parking.ORIGINAL_CONTENT_TYPE, None) == "":
        properties.pop("content_type", None)  # it came without one
    headers[REPLAYED_AT] = now.isoformat()
    properties["application_headers"] = headers
    return properties


@contextmanager
def held(connection: Connection, queue: str, limit: int) -> Iterator[tuple[Any, list[Parked], int]]:
    """Up to ``limit`` messages of ``queue``, oldest first, taken without an ack, and how many
    it held. Closing the channel at the end gives every message not acked back to the broker,
    in its place. Raises ``NotFound`` when the queue does not exist."""
    channel = connection.channel()
    try:
        ready = channel.queue_declare(queue, passive=True).message_count
        messages: list[Parked] = []
        while len(messages) < limit and (raw := channel.basic_get(queue, no_ack=False)) is not None:
            body = raw.body.encode() if isinstance(raw.body, str) else bytes(raw.body)
            messages.append(Parked(body, dict(raw.properties), raw.delivery_tag))
        yield channel, messages, max(ready, len(messages))  # more may have come meanwhile
    finally:
        if channel.is_open:
            channel.close()


def listing(connection: Connection, queue: str, limit: int = DEFAULT_LIMIT) -> Listing:
    try:
        with held(connection, queue, limit) as (_, messages, ready):
            return Listing(queue, True, ready, [row(message) for message in messages])
    except NotFound:
        return Listing(queue, declared=False)


def republish(channel: Any, message: Parked) -> None:
    """Publish ``message`` to its original queue and wait for the broker's confirm; mandatory, so
    that a queue gone missing is an error rather than a silent drop."""
    target = message.headers.get(parking.ORIGINAL_QUEUE)
    if not target:
        raise LookupError(f"{message.id} has no {parking.ORIGINAL_QUEUE} header")
    properties = replay_properties(message.properties, datetime.now(UTC))
    channel.basic_publish_confirm(
        Message(message.body, **properties),
        exchange="",
        routing_key=target,
        mandatory=True,
        confirm_timeout=CONFIRM_TIMEOUT,
    )


def replay(
    connection: Connection, queue: str, ids: Sequence[str] | None, limit: int = DEFAULT_LIMIT
) -> Replayed:
    """Move the messages of dead queue ``queue`` with ``ids`` (all when ``None``) back to their
    queues, one by one; nothing at all when an id is not found."""
    result = Replayed()
    with held(connection, queue, limit) as (channel, messages, ready):
        chosen, result.missing = choose(messages, ids)
        if result.missing:
            result.left = ready
            return result
        for message in chosen:
            try:
                republish(channel, message)
            except (AMQPError, LookupError, OSError) as exc:
                result.error = f"{message.id}: {type(exc).__name__}: {exc}"
                break
            channel.basic_ack(message.delivery_tag)
            result.moved.append(row(message))
        result.left = ready - len(result.moved)
    return result


def dead_queues(service: str) -> list[str]:
    found = topology.queues(topology.service_class(service), service_config(service))
    return [queue.name for queue in found if queue.name.endswith(parking.DEAD_SUFFIX)]


def owner(queue: str) -> str | None:
    """The service consuming from ``queue`` (or its ``.dead``), by nameko's queue names."""
    name = queue.removesuffix(parking.DEAD_SUFFIX)
    if name.startswith("rpc-"):
        return name.removeprefix("rpc-")
    if name.startswith("evt-") and "--" in name:
        return name.rsplit("--", 1)[1].split(".", 1)[0]
    return None


def broker_uri(explicit: str | None, service: str | None) -> str:
    uri = explicit or os.environ.get(AMQP_URI_CONFIG_KEY)
    if uri:
        return uri
    if service is None:
        raise LookupError("cannot tell whose queue this is: give --amqp-uri or AMQP_URI")
    return str(service_config(service)[AMQP_URI_CONFIG_KEY])


def show(label: str | None, listings: list[Listing], as_json: bool) -> None:
    if as_json:
        for item in listings:
            state = {"declared": item.declared, "messages": item.ready}
            print(json.dumps({"record": "queue", "service": label, "queue": item.queue, **state}))
            for fields in item.rows:
                print(json.dumps({"record": "message", "queue": item.queue, **fields}, default=str))
        return
    empty = [item for item in listings if item.declared and not item.ready]
    if label:
        print(f"{label}: {len(listings)} dead-letter queue(s), {len(empty)} empty")
    for item in listings:
        if not item.declared:
            print(f"  {item.queue}: not declared yet (python -m chassis.topology)")
        elif item.ready:
            shown = "" if len(item.rows) == item.ready else f", first {len(item.rows)} shown"
            print(f"  {item.queue}: {item.ready} message(s){shown}")
            print("\n".join(format_row(fields) for fields in item.rows))
        elif not label:
            print(f"  {item.queue}: empty")


def run_list(args: argparse.Namespace) -> bool:
    if args.queue:
        targets = [(None, broker_uri(args.amqp_uri, owner(q)), [q]) for q in args.queue]
    else:
        services = args.services or list(topology.SERVICES)
        targets = [(s, broker_uri(args.amqp_uri, s), dead_queues(s)) for s in services]
    for label, uri, queues in targets:
        with Connection(uri) as connection:
            show(label, [listing(connection, q, args.limit) for q in queues], args.json)
    return True


def run_replay(args: argparse.Namespace) -> bool:
    with Connection(broker_uri(args.amqp_uri, owner(args.queue))) as connection:
        result = replay(connection, args.queue, None if args.all else args.id, args.limit)
    for fields in result.moved:
        print(f"moved {fields['id']} ({fields['event_type'] or '-'}) to {fields['original_queue']}")
    if result.missing:
        print(f"not in {args.queue}: {', '.join(result.missing)}; nothing moved", file=sys.stderr)
    if result.error:
        print(f"stopped, not moved: {result.error}", file=sys.stderr)
    print(f"{len(result.moved)} moved, {result.left} left in {args.queue}")
    return not (result.missing or result.error)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--amqp-uri", help="broker URI (default: $AMQP_URI, else the service's)")
    common.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="messages read per queue")
    top = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    show_cmd = commands.add_parser("list", parents=[common], help="show parked messages")
    show_cmd.add_argument("services", nargs="*", metavar="SERVICE")
    show_cmd.add_argument("--queue", action="append", help="a dead-letter queue, by name")
    show_cmd.add_argument("--json", action="store_true", help="JSON lines")
    move = commands.add_parser("replay", parents=[common], help="move messages back")
    move.add_argument("queue", metavar="QUEUE")
    which = move.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", help="a message id (repeatable)")
    which.add_argument("--all", action="store_true")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        ok = run_list(args) if args.command == "list" else run_replay(args)
    except (AMQPError, OSError, LookupError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        ok = False
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
