"""Transactional outbox: an event is a row written in the same transaction as the change it
announces, and a relay publishes it afterwards.

    class OrdersService:
        store = Store(Base, OrdersRepository)
        outbox = Outbox(Base)

        @rpc
        def confirm(self, ...):
            with self.store.transaction() as orders:
                ...change rows...
                self.outbox.add(orders.session, ORDER_CONFIRMED, order_id=...)

If the transaction rolls back, the event never existed; if it commits, the event will be
published even when the broker is down or the service dies right after the commit: the row
waits until a relay (in this or any other instance of the service) publishes it with
publisher confirms and marks it sent. Delivery is therefore at least once, and consumers
drop duplicates by ``event_id`` (see ``chassis.inbox``).

The relay publishes over one connection of its own, kept open, a batch at a time: it sends
every event of the batch, then waits once for the broker to confirm them all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

import amqp
import eventlet
import kombu.serialization
from eventlet.event import Event
from kombu import Connection
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    LOGIN_METHOD_CONFIG_KEY,
    PERSISTENT,
)
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange
from nameko_sqlalchemy.database import DB_URIS_KEY
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

from chassis import engines
from chassis.config import setting
from chassis.contracts.events import make_event
from chassis.logs import REQUEST_ID, current_request_id
from chassis.metrics import gauge_source

_log = logging.getLogger(__name__)

OUTBOX = "outbox"
CONFIRM_TIMEOUT = 10.0  # seconds the broker may take to confirm a batch


class Unconfirmed(Exception):
    """The broker refused an event (``basic.nack``) or did not confirm it in time."""


class BatchPublisher:
    """Publishes events over one connection and channel in confirm mode, kept open: a batch
    is sent whole, then the broker's confirms of all of it are awaited at once. Used by one
    green thread at a time (the relay).
    """

    def __init__(
        self, uri: str, declare: Any = None, ssl: Any = None, login_method: str | None = None
    ) -> None:
        self._uri = uri
        self._declare = declare  # the exchange, declared on every new channel
        self._options = {"ssl": ssl, "login_method": login_method}
        self._connection: Connection | None = None
        self._channel: Any = None
        self._sent = 0  # the channel's last delivery tag
        self._acked = 0  # every delivery tag up to this one is confirmed
        self._acked_alone: set[int] = set()  # confirmed one by one, beyond ``_acked``
        self._refused: int | None = None  # the first delivery tag the broker refused

    def publish(self, events: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> int:
        """Publish ``(exchange, routing key, payload, headers)`` in order; returns how many of
        them, from the first on, the broker confirmed, and raises when it confirmed none."""
        channel = self._channel or self._connect()
        first = self._sent + 1
        try:
            for exchange, routing_key, payload, headers in events:
                content_type, encoding, body = kombu.serialization.dumps(payload, "json")
                message = amqp.Message(
                    body,
                    content_type=content_type,
                    content_encoding=encoding,
                    delivery_mode=PERSISTENT,
                    message_id=payload["event_id"],
                    application_headers=headers,
                )
                channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
                self._sent += 1
            deadline = time.monotonic() + CONFIRM_TIMEOUT
            while self._acked < self._sent and self._refused is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unconfirmed(f"no confirm within {CONFIRM_TIMEOUT}s")
                assert self._connection is not None
                self._connection.drain_events(timeout=left)
        except Exception as exc:
            confirmed = self._confirmed_since(first)
            self.close()  # what is still unconfirmed on it would never be told apart
            if confirmed == 0:
                if isinstance(exc, TimeoutError):
                    raise Unconfirmed(f"no confirm in time: {exc!r}") from exc
                raise
            return confirmed
        except BaseException:
            self.close()
            raise
        confirmed = self._confirmed_since(first)
        if self._refused is not None:
            self.close()
            if confirmed == 0:
                raise Unconfirmed("the broker refused the event (basic.nack)")
        return confirmed

    def _confirmed_since(self, first: int) -> int:
        last = self._acked if self._refused is None else min(self._acked, self._refused - 1)
        return max(last - first + 1, 0)

    def _connect(self) -> Any:
        connection = Connection(self._uri, **self._options)
        try:
            channel = connection.channel()
            channel.confirm_select()
            if self._declare is not None:
                self._declare(channel).declare()
        except BaseException:
            connection.release()
            raise
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self._connection, self._channel = connection, channel
        self._sent = self._acked = 0
        self._acked_alone = set()
        self._refused = None
        return channel

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._acked = max(self._acked, delivery_tag)
        else:
            self._acked_alone.add(delivery_tag)
        while self._acked + 1 in self._acked_alone:
            self._acked += 1
        self._acked_alone = {tag for tag in self._acked_alone if tag > self._acked}

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        refused = self._acked + 1 if multiple else delivery_tag
        self._refused = refused if self._refused is None else min(self._refused, refused)

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception as exc:  # closing what is broken already
                _log.debug("outbox relay: closing its connection: %r", exc)


def outbox_columns() -> list[Any]:
    """The outbox table's columns and index, shared by the models and the migrations."""
    return [
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        # The relay only ever looks for unsent rows: keep that lookup small however old the
        # table grows.
        Index("outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    ]


def outbox_table(metadata: MetaData) -> Table:
    return Table(OUTBOX, metadata, *outbox_columns())


class OutboxWriter:
    """What a worker sees: ``add`` records an event in the worker's own transaction."""

    def __init__(self, table: Table, headers: Callable[[], dict[str, Any]], on_add: Any) -> None:
        self._table = table
        self._headers = headers
        self._on_add = on_add

    def add(self, session: Session, event_type: str, **payload: Any) -> dict[str, Any]:
        """Validate the event against its contract and insert it; returns the event."""
        event = make_event(event_type, **payload)
        session.execute(
            insert(self._table).values(
                event_id=event["event_id"],
                event_type=event_type,
                payload=event,
                headers=self._headers(),
            )
        )
        self._on_add()
        return event


class Outbox(DependencyProvider):
    """Writes events into the service's ``outbox`` table and runs the relay that publishes them.

    Settings (service config): ``OUTBOX_POLL_INTERVAL`` (seconds between looks when nothing
    woke the relay, default 1), ``OUTBOX_BATCH_SIZE`` (default 100), ``OUTBOX_RETENTION_DAYS``
    (sent rows older than this are deleted, default 7).
    """

    def __init__(self, base: type[DeclarativeBase]) -> None:
        self.base = base

    def setup(self) -> None:
        config = self.container.config
        self.table = self.base.metadata.tables[OUTBOX]
        key = f"{self.container.service_name}:{self.base.__name__}"
        self.engine: Engine = engines.engine(config[DB_URIS_KEY][key], pool_size=2)
        self.exchange = get_event_exchange(self.container.service_name, config)
        self.publisher = BatchPublisher(
            config[AMQP_URI_CONFIG_KEY],
            declare=self.exchange,
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        self.poll_interval = setting(config, "OUTBOX_POLL_INTERVAL", 1.0)
        self.batch_size = setting(config, "OUTBOX_BATCH_SIZE", 100)
        self.retention_days = setting(config, "OUTBOX_RETENTION_DAYS", 7)
        self._wake = Event()
        self._running = False
        self._thread: Any = None
        self._writes: WeakKeyDictionary[Any, int] = WeakKeyDictionary()
        gauge_source(self)

    def start(self) -> None:
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._run, identifier="outbox-relay")

    def stop(self) -> None:
        # Stop after the workers (nameko stops entrypoints, then waits for workers, then
        # dependencies): one last pass publishes what the final workers committed.
        self._running = False
        self.wake()
        if self._thread is not None:
            self._thread.wait()
        self.publisher.close()
        self.engine.dispose()

    def kill(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.kill()
        self.publisher.close()
        self.engine.dispose()

    def get_dependency(self, worker_ctx: Any) -> OutboxWriter:
        def headers() -> dict[str, Any]:
            # Read when the event is written, not now: dependencies that run after this one
            # (tracing) add to the context data; and work done for another request than the
            # worker's (the saga's recovery loop) is logged, and announced, under that id.
            data = dict(worker_ctx.context_data)
            if data.get(REQUEST_ID) is None:
                data[REQUEST_ID] = current_request_id()
            return {
                f"nameko.{key}": value
                for key, value in data.items()
                if key != "call_id_stack" and value is not None
            }

        def on_add() -> None:
            self._writes[worker_ctx] = self._writes.get(worker_ctx, 0) + 1

        return OutboxWriter(self.table, headers, on_add)

    def worker_teardown(self, worker_ctx: Any) -> None:
        # The worker's transaction has ended by now: publish what it committed without waiting
        # for the next poll.
        if self._writes.pop(worker_ctx, 0):
            self.wake()

    def wake(self) -> None:
        if not self._wake.ready():
            self._wake.send(True)

    def _run(self) -> None:
        failures = 0
        passes = 0
        while True:
            timeout = self.poll_interval if failures == 0 else min(0.5 * 2**failures, 10.0)
            with eventlet.Timeout(timeout, False):
                self._wake.wait()
            self._wake = Event()  # a wake during the pass below triggers the next one at once
            try:
                while self.relay_once() == self.batch_size:
                    pass
                failures = 0
            except Exception as exc:
                failures = min(failures + 1, 5)
                _log.warning("outbox relay: %s (will retry)", exc)
            if not self._running:
                return
            passes += 1
            if passes % 3600 == 0:
                self._purge()

    def relay_once(self) -> int:
        """Publish one batch of unsent events, oldest first; returns how many were published.

        ``SKIP LOCKED`` lets several instances of a service relay side by side without
        publishing the same row twice. A row is marked sent only after the broker confirmed it.
        """
        table = self.table
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(table.c.id, table.c.event_type, table.c.payload, table.c.headers)
                .where(table.c.sent_at.is_(None))
                .order_by(table.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            exchange = self.exchange.name
            events = [(exchange, row.event_type, row.payload, row.headers) for row in rows]
            error: Exception | None = None
            try:
                published = self.publisher.publish(events)
            except Exception as exc:
                published, error = 0, exc
            if published:
                sent = [row.id for row in rows[:published]]
                conn.execute(update(table).where(table.c.id.in_(sent)).values(sent_at=func.now()))
            if error is not None:
                conn.execute(
                    update(table)
                    .where(table.c.id == rows[0].id)
                    .values(attempts=table.c.attempts + 1, last_error=str(error)[:1000])
                )
        if error is not None:
            raise error
        return published

    def gauges(self) -> list[GaugeMetricFamily]:
        """The backlog, read when metrics are scraped: unsent events and the age of the
        oldest. A growing age means events are not getting out (broker down, relay stuck)."""
        table = self.table
        with self.engine.connect() as conn:
            count, age = conn.execute(
                select(
                    func.count(),
                    func.coalesce(
                        func.extract("epoch", func.now() - func.min(table.c.created_at)), 0
                    ),
                ).where(table.c.sent_at.is_(None))
            ).one()
        service = [self.container.service_name]
        backlog = GaugeMetricFamily(
            "shop_outbox_backlog", "Events written but not yet published", labels=["service"]
        )
        backlog.add_metric(service, count)
        oldest = GaugeMetricFamily(
            "shop_outbox_oldest_unsent_age_seconds",
            "Age of the oldest event not yet published (0 when none waits)",
            labels=["service"],
        )
        oldest.add_metric(service, float(age))
        return [backlog, oldest]

    def _purge(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(self.table).where(
                    self.table.c.sent_at
                    < func.now() - text(f"interval '{self.retention_days} days'")
                )
            )
