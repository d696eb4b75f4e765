"""The outbox relay's publisher, on the real broker: a batch sent whole and confirmed at once,
over a connection it keeps, and renewed when the connection breaks; and the relay around it,
on a real database: a row is marked sent only once the broker confirmed it."""

import json
import socket
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import MetaData, create_engine, select

from chassis.contracts.events import USER_REGISTERED
from chassis.migrate import ensure_database
from chassis.outbox import BatchPublisher, Outbox, OutboxWriter, outbox_table


@pytest.fixture
def exchange():
    return Exchange(f"publisher-test-{uuid.uuid4().hex[:8]}.events", type="topic", durable=True)


@pytest.fixture
def queue(rabbit_config, exchange):
    """A queue that takes everything published to ``exchange``."""
    queue = Queue(f"publisher-test-{uuid.uuid4().hex[:8]}", exchange, routing_key="#")
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        channel = connection.default_channel
        exchange(channel).declare()
        queue(channel).declare()
        yield queue
        queue(channel).delete()
        exchange(channel).delete()


@pytest.fixture
def publisher(rabbit_config, exchange):
    publisher = BatchPublisher(rabbit_config["AMQP_URI"], declare=exchange)
    yield publisher
    publisher.close()


def events(exchange, count, headers=None):
    return [
        (exchange.name, "thing_happened", {"event_id": uuid.uuid4().hex, "n": n}, headers or {})
        for n in range(count)
    ]


def taken(rabbit_config, queue):
    messages = []
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue.name, no_ack=True)) is not None:
            messages.append(message)
    return messages


def test_a_batch_is_published_whole_in_order_and_confirmed(
    rabbit_config, exchange, queue, publisher
):
    batch = events(exchange, 25, headers={"nameko.request_id": "r-1"})
    assert publisher.publish(batch) == 25
    messages = taken(rabbit_config, queue)
    assert [json.loads(m.body) for m in messages] == [payload for _, _, payload, _ in batch]
    first = messages[0]
    assert first.properties["delivery_mode"] == 2  # persistent, as events must be
    assert first.properties["message_id"] == batch[0][2]["event_id"]
    assert first.properties["content_type"] == "application/json"
    assert first.properties["application_headers"] == {"nameko.request_id": "r-1"}
    # One connection, kept: the next batch goes over it.
    connection = publisher._connection
    assert publisher.publish(events(exchange, 3)) == 3
    assert publisher._connection is connection


def test_a_broken_connection_fails_its_batch_and_the_next_one_reconnects(
    rabbit_config, exchange, queue, publisher
):
    assert publisher.publish(events(exchange, 1)) == 1
    publisher._connection.connection.sock.shutdown(socket.SHUT_RDWR)  # the broker went away
    with pytest.raises(Exception):  # noqa: B017 - whatever the socket says
        publisher.publish(events(exchange, 2))
    again = events(exchange, 2)
    assert publisher.publish(again) == 2
    bodies = [json.loads(m.body) for m in taken(rabbit_config, queue)]
    # Confirmed ones were delivered; the failed batch may or may not have been (it is published
    # again by the relay, and consumers drop duplicates), but the last one is there.
    assert bodies[0]["n"] == 0 and bodies[-2:] == [payload for _, _, payload, _ in again]


def test_a_refused_publish_raises_and_the_publisher_recovers(
    rabbit_config, exchange, queue, publisher
):
    missing = [("no-such-exchange.events", "x", {"event_id": "e-1"}, {})]
    with pytest.raises(Exception, match="no-such-exchange"):
        publisher.publish(missing)
    assert publisher.publish(events(exchange, 2)) == 2
    assert len(taken(rabbit_config, queue)) == 2


# -- the relay around it: which rows end up sent ------------------------------------------

RELAY_URL = "postgresql+psycopg2://shop:shop@127.0.0.1:5432/chassis_relay_test"


class Scripted:
    """Confirms the first ``confirmed`` events of a batch, or raises ``error``."""

    def __init__(self, confirmed=None, error=None):
        self.confirmed, self.error, self.batches = confirmed, error, []

    def publish(self, events):
        self.batches.append(events)
        if self.error is not None:
            raise self.error
        return len(events) if self.confirmed is None else self.confirmed


@pytest.fixture
def relay(databases):
    ensure_database(RELAY_URL)
    engine = create_engine(RELAY_URL)
    metadata = MetaData()
    table = outbox_table(metadata)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    relay = Outbox.__new__(Outbox)
    relay.table, relay.engine, relay.batch_size = table, engine, 100
    relay.exchange = Exchange("relay-test.events", type="topic")
    for n in range(3):
        with engine.begin() as conn:
            OutboxWriter(table, dict, lambda: None).add(conn, USER_REGISTERED, **registered(n))
    yield relay
    engine.dispose()


def registered(n):
    return {"user_id": n, "email": f"u{n}@example.com", "name": f"u{n}", "role": "customer"}


def rows(relay):
    table = relay.table
    with relay.engine.connect() as conn:
        return conn.execute(
            select(table.c.sent_at.is_not(None), table.c.attempts).order_by(table.c.id)
        ).all()


def test_the_relay_marks_sent_what_the_broker_confirmed_and_only_that(relay):
    relay.publisher = Scripted(confirmed=2)
    assert relay.relay_once() == 2
    assert [tuple(row) for row in rows(relay)] == [(True, 0), (True, 0), (False, 0)]
    assert [e[2]["user_id"] for e in relay.publisher.batches[0]] == [0, 1, 2]  # oldest first
    relay.publisher = Scripted()
    assert relay.relay_once() == 1  # the one left over, alone
    assert all(sent for sent, _ in rows(relay))


def test_a_batch_the_broker_refused_stays_unsent_and_its_first_row_is_charged_a_try(relay):
    relay.publisher = Scripted(error=ConnectionError("broker gone"))
    with pytest.raises(ConnectionError):
        relay.relay_once()
    assert [tuple(row) for row in rows(relay)] == [(False, 1), (False, 0), (False, 0)]


def test_a_relay_that_dies_while_publishing_leaves_its_batch_unsent(relay):
    relay.publisher = Scripted(error=KeyboardInterrupt())  # killed mid-batch
    with pytest.raises(KeyboardInterrupt):
        relay.relay_once()
    assert [tuple(row) for row in rows(relay)] == [(False, 0)] * 3
