"""The outbox and the idempotent consumer, on the real broker and a real database."""

import collections
import json
import time
import uuid

import eventlet
import pytest
from kombu import Connection
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from nameko_sqlalchemy import Database
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, String, Table, create_engine, func, insert, select, text
from sqlalchemy.orm import DeclarativeBase

from chassis.contracts.events import USER_REGISTERED, make_event, parse_event
from chassis.inbox import Inbox, event_handler, processed_events_table
from chassis.migrate import ensure_database
from chassis.outbox import Outbox, outbox_table
from chassis.rpc import rpc

URL = "postgresql+psycopg2://shop:shop@127.0.0.1:5432/chassis_test"


class Base(DeclarativeBase):
    pass


outbox = outbox_table(Base.metadata)
processed = processed_events_table(Base.metadata)
effects = Table(
    "effects",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(64), nullable=False),
)

attempts: collections.Counter = collections.Counter()


def announce(name: str, user_id: int = 1) -> dict:
    return {"user_id": user_id, "email": "someone@example.com", "name": name, "role": "customer"}


class Producer:
    name = "producer"
    db = Database(Base)
    outbox = Outbox(Base)

    @rpc
    def write(self, name, fail=False):
        with self.db.get_session() as session:
            event = self.outbox.add(session, USER_REGISTERED, **announce(name))
            if fail:
                raise RuntimeError("the change failed after the event was recorded")
        return event


class Consumer:
    name = "consumer"
    db = Database(Base)
    inbox = Inbox(Base)

    @event_handler("producer", USER_REGISTERED)
    def handle_user_registered(self, body):
        event = parse_event(USER_REGISTERED, body)
        attempts[event["name"]] += 1
        if event["name"].startswith("fail") or (
            event["name"].startswith("flaky") and attempts[event["name"]] < 3
        ):
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
        "DB_URIS": {"producer:Base": URL, "consumer:Base": URL},
        "EVENT_MAX_ATTEMPTS": 3,
        "EVENT_RETRY_DELAY": 0.05,
    }


@pytest.fixture
def runner(runner_factory, config):
    runner = runner_factory(config, Producer, Consumer)
    runner.start()
    return runner


def handled(runner, predicate=lambda event: True, timeout=10):
    """Wait for the consumer to finish handling an event matching ``predicate``."""

    def callback(worker_ctx, result, exc_info):
        return exc_info is None and predicate(worker_ctx.args[0])

    return entrypoint_waiter(
        runner.service_map["consumer"],
        "handle_user_registered",
        callback=callback,
        timeout=timeout,
    )


def effects_of(engine, event_id):
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).where(effects.c.event_id == event_id))


def is_sent(engine, event_id):
    with engine.connect() as conn:
        return conn.scalar(
            select(outbox.c.sent_at.is_not(None)).where(outbox.c.event_id == event_id)
        )


def test_an_event_recorded_with_its_change_is_published_once(runner, engine):
    name = uuid.uuid4().hex
    with (
        handled(runner, lambda body: body["name"] == name),
        entrypoint_hook(runner.service_map["producer"], "write") as write,
    ):
        event = write(name)
    assert effects_of(engine, event["event_id"]) == 1
    assert is_sent(engine, event["event_id"])


def test_a_rolled_back_change_announces_nothing(runner, engine):
    name = uuid.uuid4().hex
    with (
        entrypoint_hook(runner.service_map["producer"], "write") as write,
        pytest.raises(RuntimeError),
    ):
        write(name, fail=True)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(outbox.c.payload["name"].astext == name)) == 0


def test_an_event_committed_before_a_crash_is_published_after_restart(
    runner_factory, config, engine
):
    # The change committed, then the process died before its relay ran: only the row exists.
    event = make_event(USER_REGISTERED, **announce(uuid.uuid4().hex))
    with engine.begin() as conn:
        conn.execute(
            insert(outbox).values(
                event_id=event["event_id"], event_type=USER_REGISTERED, payload=event
            )
        )
    runner = runner_factory(config, Consumer)
    runner.start()
    with handled(runner, lambda body: body["event_id"] == event["event_id"]):
        runner_factory(config, Producer).start()  # the service comes back
    assert effects_of(engine, event["event_id"]) == 1
    assert is_sent(engine, event["event_id"])


def test_a_duplicate_delivery_has_no_second_effect(runner, engine, config):
    event = make_event(USER_REGISTERED, **announce(uuid.uuid4().hex))
    dispatch = event_dispatcher(config)
    for _ in range(2):
        with handled(runner, lambda body: body["event_id"] == event["event_id"]):
            dispatch("producer", USER_REGISTERED, event)
    assert effects_of(engine, event["event_id"]) == 1
    with engine.connect() as conn:
        assert (
            conn.scalar(select(func.count()).where(processed.c.event_id == event["event_id"])) == 1
        )


def test_a_failing_handler_is_retried_until_it_succeeds(runner, engine, config):
    labels = {"service": "consumer", "event_type": USER_REGISTERED}
    retried_before = REGISTRY.get_sample_value("shop_events_retried_total", labels) or 0
    event = make_event(USER_REGISTERED, **announce(f"flaky-{uuid.uuid4().hex}"))
    with handled(runner, lambda body: body["event_id"] == event["event_id"]):
        event_dispatcher(config)("producer", USER_REGISTERED, event)
    assert attempts[event["name"]] == 3
    assert REGISTRY.get_sample_value("shop_events_retried_total", labels) == retried_before + 2
    assert effects_of(engine, event["event_id"]) == 1


EVENT_QUEUE = "evt-producer-user_registered--consumer.handle_user_registered"


def dead_letters(config, queue=f"{EVENT_QUEUE}.dead", timeout=10):
    """Drain a dead-letter queue (the consumer's, by default): [(body, headers)]."""
    found = []
    with Connection(config["AMQP_URI"]) as conn:
        channel = conn.channel()
        deadline = eventlet.timeout.Timeout(timeout)
        try:
            while not found:
                message = channel.basic_get(queue, no_ack=True)
                while message is not None:
                    found.append((message.body, message.headers, message.content_type))
                    message = channel.basic_get(queue, no_ack=True)
                eventlet.sleep(0.05)
        finally:
            deadline.cancel()
    return found


@pytest.mark.parametrize(
    ("body", "expected_attempts", "error"),
    [
        (
            lambda: make_event(USER_REGISTERED, **announce(f"fail-{uuid.uuid4().hex}")),
            3,
            "RuntimeError: cannot handle",
        ),
        (
            lambda: {"event_id": uuid.uuid4().hex, "name": "no occurred_at, no user_id"},
            1,
            "InvalidInput: user_registered breaks its contract",
        ),
    ],
    ids=["keeps-failing", "breaks-the-contract"],
)
def test_an_event_that_cannot_be_handled_is_parked_with_its_error(
    runner, engine, config, body, expected_attempts, error
):
    labels = {"service": "consumer", "event_type": USER_REGISTERED}
    parked_before = REGISTRY.get_sample_value("shop_events_dead_lettered_total", labels) or 0
    event = body()
    event_dispatcher(config)("producer", USER_REGISTERED, event)
    ((raw, headers, _),) = dead_letters(config)
    parked = REGISTRY.get_sample_value("shop_events_dead_lettered_total", labels)
    assert parked == parked_before + 1
    assert json.loads(raw) == event
    assert headers["x-attempts"] == expected_attempts
    assert headers["x-error"].startswith(error)
    assert headers["x-original-queue"].endswith("consumer.handle_user_registered")
    assert effects_of(engine, event["event_id"]) == 0


def publish_raw(config, exchange, routing_key, body, content_type):
    """What any broker client can send: bytes that may not decode at all."""
    with Connection(config["AMQP_URI"]) as conn:
        producer = conn.Producer()
        producer.publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            content_type=content_type,
            content_encoding="binary",
            headers={"sent-by": "a stranger"},
        )


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{not json", "application/json"), (b"\x00\xff plain bytes", "application/x-unknown")],
    ids=["not-json", "a-content-type-not-accepted"],
)
def test_an_event_that_cannot_be_decoded_is_parked_as_it_came(
    runner, engine, config, body, content_type
):
    labels = {"service": "consumer", "event_type": USER_REGISTERED}
    parked_before = REGISTRY.get_sample_value("shop_events_dead_lettered_total", labels) or 0
    publish_raw(config, "producer.events", USER_REGISTERED, body, content_type)
    ((raw, headers, parked_type),) = dead_letters(config)
    assert (raw, parked_type) == (body, content_type)
    assert headers["x-error"].startswith("undecodable:")
    assert headers["x-original-queue"] == EVENT_QUEUE
    assert headers["x-event-type"] == USER_REGISTERED
    assert headers["sent-by"] == "a stranger"
    parked = REGISTRY.get_sample_value("shop_events_dead_lettered_total", labels)
    assert parked == parked_before + 1
    # The consumer goes on with the next event.
    event = make_event(USER_REGISTERED, **announce(f"after-{uuid.uuid4().hex}"))
    with handled(runner, lambda handled: handled["event_id"] == event["event_id"]):
        event_dispatcher(config)("producer", USER_REGISTERED, event)


def test_an_rpc_request_that_cannot_be_decoded_is_parked(runner, config):
    labels = {"service": "producer", "event_type": "rpc"}
    parked_before = REGISTRY.get_sample_value("shop_events_dead_lettered_total", labels) or 0
    publish_raw(config, "nameko-rpc", "producer.write", b"\x80garbage", "application/json")
    ((raw, headers, _),) = dead_letters(config, "rpc-producer.dead")
    assert raw == b"\x80garbage"
    assert headers["x-original-queue"] == "rpc-producer"
    assert "x-event-type" not in headers
    assert REGISTRY.get_sample_value("shop_events_dead_lettered_total", labels) == parked_before + 1
    with entrypoint_hook(runner.service_map["producer"], "write") as write:
        assert write(f"after-{uuid.uuid4().hex}")["event_id"]


def test_events_processed_longer_ago_than_the_retention_are_forgotten(
    runner_factory, config, engine
):
    old, recent = uuid.uuid4().hex, uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(
            insert(processed),
            [
                {"consumer": "consumer.handle_user_registered", "event_id": old},
                {"consumer": "consumer.handle_user_registered", "event_id": recent},
            ],
        )
        conn.execute(
            processed.update()
            .where(processed.c.event_id == old)
            .values(processed_at=func.now() - text("interval '31 days'"))
        )
        conn.execute(
            processed.update()
            .where(processed.c.event_id == recent)
            .values(processed_at=func.now() - text("interval '29 days'"))
        )
    runner = runner_factory(
        {**config, "INBOX_PURGE_INTERVAL": 0.1, "INBOX_RETENTION_DAYS": 30}, Consumer
    )
    runner.start()

    def kept(event_id):
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).where(processed.c.event_id == event_id))

    deadline = time.monotonic() + 10
    while kept(old):
        assert time.monotonic() < deadline, "an event processed 31 days ago is still there"
        eventlet.sleep(0.05)
    assert kept(recent) == 1
