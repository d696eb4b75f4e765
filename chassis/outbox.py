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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

import eventlet
from eventlet.event import Event
from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_URI_CONFIG_KEY
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
        self.publisher = Publisher(
            config[AMQP_URI_CONFIG_KEY], use_confirms=True, serializer="json", retry=False
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
        self.engine.dispose()

    def kill(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.kill()
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
        published: list[int] = []
        error: Exception | None = None
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(table.c.id, table.c.event_type, table.c.payload, table.c.headers)
                .where(table.c.sent_at.is_(None))
                .order_by(table.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                try:
                    self.publisher.publish(
                        row.payload,
                        exchange=self.exchange,
                        routing_key=row.event_type,
                        headers=row.headers,
                        message_id=row.payload["event_id"],
                    )
                except Exception as exc:
                    error = exc
                    conn.execute(
                        update(table)
                        .where(table.c.id == row.id)
                        .values(attempts=table.c.attempts + 1, last_error=str(exc)[:1000])
                    )
                    break
                published.append(row.id)
            if published:
                conn.execute(
                    update(table).where(table.c.id.in_(published)).values(sent_at=func.now())
                )
        if error is not None:
            raise error
        return len(published)

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
