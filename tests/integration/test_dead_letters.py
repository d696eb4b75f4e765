"""Reading and replaying parked messages (``python -m chassis.deadletters``) on the real broker."""

import collections
import json
import time
import uuid
from datetime import datetime

import eventlet
import pytest
from kombu import Connection
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange
from nameko.testing.services import entrypoint_waiter
from nameko_sqlalchemy import Database
from sqlalchemy import Column, Integer, String, Table, create_engine, func, insert, select
from sqlalchemy.orm import DeclarativeBase

from chassis import deadletters
from chassis.contracts.events import USER_REGISTERED, make_event, parse_event
from chassis.inbox import Inbox, event_handler, processed_events_table
from chassis.migrate import ensure_database

URL = "postgresql+psycopg2://shop:shop@127.0.0.1:5432/chassis_test"
PRODUCER = "deadletter_producer"
QUEUE = f"evt-{PRODUCER}-{USER_REGISTERED}--deadletter_consumer.handle_user_registered"
DEAD = f"{QUEUE}.dead"
MAX_ATTEMPTS = 2


class Base(DeclarativeBase):
    pass


processed = processed_events_table(Base.metadata)
effects = Table(
    "deadletter_effects",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(64), nullable=False),
)

failing: set[str] = set()  # names of the events whose handling fails, until taken out
calls: collections.Counter = collections.Counter()


class Consumer:
    name = "deadletter_consumer"
    db = Database(Base)
    inbox = Inbox(Base)

    @event_handler(PRODUCER, USER_REGISTERED)
    def handle_user_registered(self, body):
        event = parse_event(USER_REGISTERED, body)
        calls[event["name"]] += 1
        if event["name"] in failing:
            raise RuntimeError(f"cannot handle {event['name']}")
        with self.db.get_session() as session:
            if self.inbox.first_delivery(session, event):
                session.execute(insert(effects).values(event_id=event["event_id"]))


@pytest.fixture(scope="module")
def engine():
    ensure_database(URL)
    engine = create_engine(URL)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def config(service_config, engine):
    return {
        **service_config,
        "DB_URIS": {"deadletter_consumer:Base": URL},
        "EVENT_MAX_ATTEMPTS": MAX_ATTEMPTS,
        "EVENT_RETRY_DELAY": 0.05,
    }


@pytest.fixture
def runner(runner_factory, config):
    runner = runner_factory(config, Consumer)
    runner.start()
    return runner


def new_event(fails=True):
    name = f"dead-{uuid.uuid4().hex}"
    if fails:
        failing.add(name)
    announce = {"user_id": 1, "email": "someone@example.com", "name": name, "role": "customer"}
    return make_event(USER_REGISTERED, **announce)


def publish_event(config, event):
    """As the outbox relay publishes an event: its id as the message id."""
    Publisher(config["AMQP_URI"], serializer="json", use_confirms=True).publish(
        event,
        exchange=get_event_exchange(PRODUCER, config),
        routing_key=USER_REGISTERED,
        message_id=event["event_id"],
    )


def publish_raw(config, body, content_type):
    """What any broker client can send: bytes that may not decode at all."""
    with Connection(config["AMQP_URI"]) as conn:
        conn.Producer().publish(
            body,
            exchange=f"{PRODUCER}.events",
            routing_key=USER_REGISTERED,
            content_type=content_type,
            content_encoding="binary",
            headers={"sent-by": "a stranger"},
        )


def listed(config, queue=DEAD):
    with Connection(config["AMQP_URI"]) as conn:
        return deadletters.listing(conn, queue)


def replay(config, ids=None, queue=DEAD):
    with Connection(config["AMQP_URI"]) as conn:
        return deadletters.replay(conn, queue, ids)


def wait_parked(config, count, ready=lambda rows: True, timeout=10):
    """The rows of the dead queue once it holds ``count`` messages (and ``ready`` holds)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = listed(config).rows
        if len(rows) == count and ready(rows):
            return rows
        assert time.monotonic() < deadline, f"dead queue holds {len(rows)}, not {count}"
        eventlet.sleep(0.05)


def handled(runner, *event_ids, timeout=10):
    """Wait for a successful handling of each of ``event_ids`` (of each copy, when repeated)."""
    waiting = collections.Counter(event_ids)

    def callback(worker_ctx, result, exc_info):
        if exc_info is None:
            waiting[worker_ctx.args[0]["event_id"]] -= 1
        return all(left <= 0 for left in waiting.values())

    container = runner.service_map["deadletter_consumer"]
    return entrypoint_waiter(
        container, "handle_user_registered", callback=callback, timeout=timeout
    )


def effects_of(engine, event_id):
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).where(effects.c.event_id == event_id))


def test_a_parked_event_is_listed_then_replayed_with_all_its_attempts(runner, engine, config):
    event = new_event()
    publish_event(config, event)
    (row,) = wait_parked(config, 1)
    assert row["id"] == event["event_id"]
    assert row["event_type"] == USER_REGISTERED
    assert row["error"] == f"RuntimeError: cannot handle {event['name']}"
    assert row["attempts"] == MAX_ATTEMPTS
    assert datetime.fromisoformat(row["failed_at"]).tzinfo is not None
    assert row["original_queue"] == QUEUE
    assert row["preview"].startswith("{") and len(row["preview"]) <= deadletters.PREVIEW_WIDTH
    assert listed(config).rows == [row]  # listing took nothing away

    # Still failing: back from the dead queue it is tried MAX_ATTEMPTS times again.
    assert [m["id"] for m in replay(config, [event["event_id"]]).moved] == [event["event_id"]]
    wait_parked(config, 1, lambda rows: rows[0]["failed_at"] != row["failed_at"])
    assert calls[event["name"]] == 2 * MAX_ATTEMPTS

    failing.discard(event["name"])
    with handled(runner, event["event_id"]):
        result = replay(config, [event["event_id"]])
    assert (len(result.moved), result.missing, result.error, result.left) == (1, [], None, 0)
    assert effects_of(engine, event["event_id"]) == 1
    assert listed(config).rows == []


def test_a_second_copy_of_a_handled_event_has_no_second_effect(runner, engine, config):
    event = new_event()
    for copies in (1, 2):
        publish_event(config, event)
        wait_parked(config, copies)
    failing.discard(event["name"])
    with handled(runner, event["event_id"], event["event_id"]):
        result = replay(config, [event["event_id"]])
    assert len(result.moved) == 2  # an id chooses every copy of it
    assert effects_of(engine, event["event_id"]) == 1
    with engine.connect() as conn:
        assert (
            conn.scalar(select(func.count()).where(processed.c.event_id == event["event_id"])) == 1
        )


def test_the_messages_not_chosen_stay_in_order(runner, engine, config):
    events = [new_event() for _ in range(3)]
    for count, event in enumerate(events, start=1):
        publish_event(config, event)
        wait_parked(config, count)
    first, second, third = (event["event_id"] for event in events)
    for event in events:
        failing.discard(event["name"])

    with handled(runner, second):
        result = replay(config, [second])
    assert ([m["id"] for m in result.moved], result.left) == ([second], 2)
    assert [row["id"] for row in listed(config).rows] == [first, third]

    with handled(runner, first, third):
        result = replay(config, None)
    assert [m["id"] for m in result.moved] == [first, third]
    assert listed(config).rows == []
    assert [effects_of(engine, event_id) for event_id in (first, second, third)] == [1, 1, 1]


def test_a_message_that_cannot_be_decoded_is_listed_and_replayed_as_it_came(runner, config):
    publish_raw(config, b"{not json", "application/json")
    (row,) = wait_parked(config, 1)
    assert row["error"].startswith("undecodable:")
    assert row["id"].startswith("sha256:")
    assert (row["preview"], row["attempts"], row["event_type"]) == ("{not json", 1, USER_REGISTERED)

    result = replay(config, [row["id"]])
    assert [m["id"] for m in result.moved] == [row["id"]]
    # Still undecodable, it is parked again, as a newly parked message.
    first_parked = datetime.fromisoformat(row["failed_at"])
    wait_parked(config, 1, lambda rows: datetime.fromisoformat(rows[0]["failed_at"]) > first_parked)
    with Connection(config["AMQP_URI"]) as conn:
        message = conn.channel().basic_get(DEAD, no_ack=True)
    assert (message.body, message.content_type) == (b"{not json", "application/json")
    headers = message.headers
    assert headers["x-attempts"] == 1
    assert datetime.fromisoformat(headers["x-failed-at"]) > first_parked
    assert headers["x-original-queue"] == QUEUE
    assert headers["sent-by"] == "a stranger"
    assert "x-replayed-at" in headers


def test_an_unknown_id_moves_nothing(runner, config, capsys):
    event = new_event()
    publish_event(config, event)
    (row,) = wait_parked(config, 1)
    uri = ["--amqp-uri", config["AMQP_URI"]]
    args = ["replay", DEAD, "--id", event["event_id"], "--id", "no-such-id"]
    with pytest.raises(SystemExit) as exit_:
        deadletters.main([*args, *uri])
    assert exit_.value.code == 1
    assert "not in " + DEAD + ": no-such-id; nothing moved" in capsys.readouterr().err
    assert listed(config).rows == [row]
    assert calls[event["name"]] == MAX_ATTEMPTS


def test_a_message_whose_queue_is_gone_stays_parked(runner, config):
    with Connection(config["AMQP_URI"]) as conn:
        conn.Producer().publish(
            b"{}",
            exchange="",
            routing_key=DEAD,
            content_type="application/json",
            message_id="lost-1",
            headers={"x-original-queue": f"gone-{uuid.uuid4().hex}", "x-attempts": 1},
        )
    result = replay(config, ["lost-1"])
    assert (result.moved, result.left) == ([], 1)
    assert result.error.startswith("lost-1: ChannelError")
    assert [row["id"] for row in listed(config).rows] == ["lost-1"]


def test_the_command_line(runner, config, capsys):
    event = new_event()
    publish_event(config, event)
    wait_parked(config, 1)
    uri = ["--amqp-uri", config["AMQP_URI"]]

    deadletters.main(["list", "--queue", DEAD, "--queue", "nowhere.dead", "--json", *uri])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["record"], line["queue"]) for line in lines] == [
        ("queue", DEAD),
        ("message", DEAD),
        ("queue", "nowhere.dead"),
    ]
    assert (lines[0]["messages"], lines[1]["id"], lines[2]["declared"]) == (
        1,
        event["event_id"],
        False,
    )

    deadletters.main(["list", "--queue", DEAD, *uri])
    out = capsys.readouterr().out
    assert f"{DEAD}: 1 message(s)" in out
    assert event["event_id"] in out

    with pytest.raises(SystemExit) as exit_:
        deadletters.main(["replay", DEAD, *uri])  # neither --id nor --all
    assert exit_.value.code == 2

    failing.discard(event["name"])
    with handled(runner, event["event_id"]):
        deadletters.main(["replay", DEAD, "--all", *uri])
    assert f"moved {event['event_id']} ({USER_REGISTERED}) to {QUEUE}" in capsys.readouterr().out
