"""Idempotent, never-dropped event consumers.

Two halves:

* ``Inbox`` — a handler records the ``event_id`` it processed in its own database, in the
  same transaction as its effect. A second delivery finds the id and does nothing::

      @event_handler("orders", ORDER_CONFIRMED)
      def handle_order_confirmed(self, body):
          event = parse_event(ORDER_CONFIRMED, body)
          with self.store.transaction() as orders:
              if not self.inbox.first_delivery(orders.session, event):
                  return
              ...the effect...

* ``event_handler`` — nameko's handler, except that a failure is never acked away. The
  message goes to ``<queue>.retry``, waits there (1 s, 2 s, 4 s... by per-message TTL) and is
  dead-lettered back to ``<queue>``; after ``EVENT_MAX_ATTEMPTS`` attempts, or at once when
  the payload breaks its contract or cannot even be decoded, it is parked in ``<queue>.dead``
  with the error in its headers (``chassis.parking``), where an operator can read it and move
  it back (``python -m chassis.deadletters``).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import eventlet
from nameko.amqp.publish import Publisher, get_connection
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko_sqlalchemy.database import DB_URIS_KEY
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

from chassis import engines, parking
from chassis.config import setting
from chassis.consumer import ParkingQueueConsumer
from chassis.errors import InvalidInput
from chassis.metrics import EVENTS_DEAD, EVENTS_RETRIED
from chassis.queues import apply_queue_type

_log = logging.getLogger(__name__)

PROCESSED_EVENTS = "processed_events"


def processed_events_columns() -> list[Any]:
    """The ``processed_events`` table, shared by the models and the migrations."""
    return [
        Column("consumer", String(128), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id", name="processed_events_pkey"),
    ]


def processed_events_table(metadata: MetaData) -> Table:
    return Table(PROCESSED_EVENTS, metadata, *processed_events_columns())


class InboxClaim:
    def __init__(self, table: Table, consumer: str) -> None:
        self._table = table
        self.consumer = consumer

    def first_delivery(self, session: Session, event: dict[str, Any]) -> bool:
        """Record ``event`` as processed by this handler; False when it already was.

        A concurrent delivery of the same event waits on the row until the first one's
        transaction ends, then sees it: exactly one of them goes on to the effect.
        """
        inserted = session.execute(
            insert(self._table)
            .values(consumer=self.consumer, event_id=event["event_id"])
            .on_conflict_do_nothing()
            .returning(self._table.c.event_id)
        ).first()
        if inserted is None:
            _log.info("%s: event %s already processed", self.consumer, event["event_id"])
        return inserted is not None


class Inbox(DependencyProvider):
    """Gives each worker an ``InboxClaim`` named after the service and the handler method, and
    forgets, every ``INBOX_PURGE_INTERVAL`` seconds (default an hour), the events processed
    more than ``INBOX_RETENTION_DAYS`` ago (default 30): long after any redelivery, retry or
    replay of a dead letter that the inbox is there to catch. (A dead letter replayed later
    than that, of an event handled before, would be handled again.)"""

    def __init__(self, base: type[DeclarativeBase]) -> None:
        self.base = base

    def setup(self) -> None:
        config = self.container.config
        self.table = self.base.metadata.tables[PROCESSED_EVENTS]
        self.retention_days = setting(config, "INBOX_RETENTION_DAYS", 30)
        self.purge_interval = setting(config, "INBOX_PURGE_INTERVAL", 3600.0)
        key = f"{self.container.service_name}:{self.base.__name__}"
        self.engine: Engine = engines.engine(config[DB_URIS_KEY][key], pool_size=1)
        self._thread: Any = None

    def start(self) -> None:
        self._thread = self.container.spawn_managed_thread(self._purge_now_and_then)

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.kill()
        self.engine.dispose()

    kill = stop

    def _purge_now_and_then(self) -> None:
        while True:
            eventlet.sleep(self.purge_interval)
            try:
                purged = self.purge()
            except Exception as exc:  # the database is away: try again next time
                _log.warning("processed events not purged: %r", exc)
                continue
            if purged:
                _log.info(
                    "forgot %d event(s) processed over %d days ago", purged, self.retention_days
                )

    def purge(self, batch: int = 10_000) -> int:
        """Delete the rows older than the retention, a batch per transaction (so that no
        lock is held long); returns how many went."""
        table = self.table
        old = table.c.processed_at < func.now() - text(
            f"interval '{int(self.retention_days)} days'"
        )
        total = 0
        while True:
            with self.engine.begin() as conn:
                keys = select(table.c.consumer, table.c.event_id).where(old).limit(batch)
                deleted = conn.execute(
                    delete(table).where(tuple_(table.c.consumer, table.c.event_id).in_(keys))
                ).rowcount
            total += deleted
            if deleted < batch:
                return total

    def get_dependency(self, worker_ctx: Any) -> InboxClaim:
        consumer = f"{self.container.service_name}.{worker_ctx.entrypoint.method_name}"
        return InboxClaim(self.table, consumer)


class ReliableEventHandler(EventHandler):
    """nameko's ``event_handler`` with bounded retries and a dead-letter queue.

    Settings: ``EVENT_MAX_ATTEMPTS`` (default 5) and ``EVENT_RETRY_DELAY`` (seconds before the
    first retry, doubled for each next one, default 1).
    """

    queue_consumer = ParkingQueueConsumer()  # a message it cannot decode is parked too

    def __init__(self, source_service: str, event_type: str, **kwargs: Any) -> None:
        kwargs["requeue_on_error"] = False  # failures are handled below, never by a bare ack
        super().__init__(source_service, event_type, **kwargs)

    def setup(self) -> None:
        super().setup()
        config = self.container.config
        apply_queue_type(self.queue, config)  # not declared yet: the queue consumer does it
        self.max_attempts = setting(config, "EVENT_MAX_ATTEMPTS", 5)
        self.retry_delay = setting(config, "EVENT_RETRY_DELAY", 1.0)
        service = self.container.service_name
        self.retry_queue = parking.retry_queue(service, self.queue.name, config)
        self.dead_queue = parking.dead_queue(service, self.queue.name, config)
        self.publisher = Publisher(config[AMQP_URI_CONFIG_KEY], use_confirms=True, retry=True)
        # Declared up front, so that the dead-letter queue can be watched before anything fails.
        with get_connection(config[AMQP_URI_CONFIG_KEY]) as connection:
            self.dead_queue(connection.default_channel).declare()
            parking.declare_retry_queue(self.retry_queue, connection)

    def handle_result(
        self, message: Any, worker_ctx: Any, result: Any = None, exc_info: Any = None
    ) -> tuple[Any, Any]:
        if exc_info is not None:
            try:
                self._retry_or_park(message, exc_info)
            except Exception:
                # Could not hand the message on: give it back to the broker rather than lose it.
                _log.exception("could not retry or park a failed event; requeueing it")
                self.queue_consumer.requeue_message(message)
                return result, exc_info
        self.queue_consumer.ack_message(message)
        return result, exc_info

    def _retry_or_park(self, message: Any, exc_info: Any) -> None:
        exc_type, exc, tb = exc_info
        attempts = int((message.headers or {}).get(parking.ATTEMPTS, 1))
        error = f"{exc_type.__name__}: {exc}"[:1000]
        retryable = not isinstance(exc, InvalidInput)  # a broken payload will not get better
        if retryable and attempts < self.max_attempts:
            delay = self.retry_delay * 2 ** (attempts - 1)
            headers = {
                **(message.headers or {}),
                parking.ATTEMPTS: attempts + 1,
                parking.LAST_ERROR: error,
            }
            parking.publish_raw(
                self.publisher, message, self.retry_queue, headers, declare=False, expiration=delay
            )
            EVENTS_RETRIED.labels(self.container.service_name, self.event_type).inc()
            _log.warning(
                "%s failed (attempt %d of %d), retrying in %.1fs: %s",
                self.queue.name,
                attempts,
                self.max_attempts,
                delay,
                error,
            )
            return
        headers = parking.parking_headers(
            message, self.queue.name, error, attempts, event_type=self.event_type
        )
        headers[parking.TRACEBACK] = "".join(traceback.format_tb(tb))[-4000:]
        parking.publish_raw(self.publisher, message, self.dead_queue, headers)
        EVENTS_DEAD.labels(self.container.service_name, self.event_type).inc()
        _log.error(
            "%s parked in %s after %d attempt(s): %s",
            self.queue.name,
            self.dead_queue.name,
            attempts,
            error,
        )


event_handler = ReliableEventHandler.decorator
