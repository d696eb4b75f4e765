"""The notifications service on the real broker, its test database and a real SMTP server (the
sink `make run` starts), with a stand-in for the users service."""

import email
import mailbox
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from email import policy

import pytest
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, func, select

from chassis.contracts.events import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    PAYMENT_DECLINED,
    SOURCES,
    USER_REGISTERED,
    make_event,
)
from notifications.models import Notification, Recipient, processed_events
from notifications.service import NotificationsService
from tests.conftest import ROOT, free_port
from users.exceptions import UserNotFound


class Sink:
    """deploy/local/smtp_sink.py in a process of its own, writing to a Maildir."""

    def __init__(self, port, directory):
        self.port = port
        self.directory = directory
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "deploy" / "local" / "smtp_sink.py"),
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self._answers, what=f"the SMTP sink on port {self.port}")
        return self

    def _answers(self):
        assert self.proc.poll() is None, "the SMTP sink exited"
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def mails(self, event_id):
        """The messages received for the notification of ``event_id``."""
        box = mailbox.Maildir(self.directory)
        found = []
        for key in box.iterkeys():
            message = email.message_from_bytes(box.get_bytes(key), policy=policy.default)
            if message["Message-ID"] == f"<{event_id}@example.com>":
                found.append(message)
        return found

    def wait_for_mail(self, event_id):
        wait_for(lambda: self.mails(event_id), what=f"a mail for event {event_id}")
        time.sleep(0.3)  # time for a second, unwanted copy to show up
        return self.mails(event_id)


class Refuser(socketserver.ThreadingTCPServer):
    """A minimal SMTP server, in this process: it answers ``RCPT TO`` for an address in
    ``refusals`` with the reply given there, accepts every other message, and counts the
    ``RCPT TO`` it sees for each address. (Its threads are green ones: tests monkey-patch.)"""

    daemon_threads = True
    block_on_close = False  # the service keeps sessions open until it stops

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SmtpSession)
        self.port = self.server_address[1]
        self.refusals: dict[str, str] = {}
        self.rcpts: Counter[str] = Counter()
        self.delivered: list[str] = []  # the recipients of each message accepted

    def start(self):
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()


class SmtpSession(socketserver.StreamRequestHandler):
    """One client's session with the ``Refuser``: just what ``smtplib`` needs to send."""

    def handle(self):
        self.reply("220 refuser ESMTP")
        recipients = []
        while line := self.rfile.readline():
            verb, _, argument = line.decode().strip().partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 refuser")
            elif verb in ("MAIL", "RSET"):
                recipients = []
                self.reply("250 2.0.0 ok")
            elif verb == "RCPT":
                address = argument.partition("<")[2].partition(">")[0]
                self.server.rcpts[address] += 1
                refusal = self.server.refusals.get(address)
                if refusal is None:
                    recipients.append(address)
                self.reply(refusal or "250 2.1.5 ok")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                while self.rfile.readline() not in (b".\r\n", b""):
                    pass
                self.server.delivered.extend(recipients)
                self.reply("250 2.0.0 queued")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.1 not implemented")

    def reply(self, text):
        self.wfile.write(f"{text}\r\n".encode())


class Users:
    """Stands for the users service: knows every user except those in ``unknown``."""

    name = "users"
    unknown: set = set()

    @rpc
    def get_user(self, user_id):
        if user_id in self.unknown:
            raise UserNotFound(f"No user {user_id}", {"user_id": ["Not found."]})
        return {
            "id": user_id,
            "email": f"user-{user_id}@example.com",
            "name": f"User {user_id}",
            "role": "customer",
        }


def wait_for(predicate, what, timeout=15):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.05)
    return result


@pytest.fixture(scope="module")
def sink(tmp_path_factory):
    sink = Sink(free_port(), tmp_path_factory.mktemp("mail") / "maildir").start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def engine(databases):
    engine = create_engine(databases["notifications"])
    yield engine
    engine.dispose()


@pytest.fixture
def config(service_config, sink):
    # Retries rarely, so that what these tests see was mailed by the handler itself.
    return {
        **service_config,
        "SMTP_PORT": sink.port,
        "USERS_RPC_TIMEOUT": 2,
        "MAIL_RETRY_INTERVAL": 3600,
    }


@pytest.fixture
def refuser():
    server = Refuser().start()
    yield server
    server.stop()


@pytest.fixture
def service(runner_factory, config):
    runner = runner_factory(config, NotificationsService, Users)
    runner.start()
    return runner.service_map["notifications"]


def new_user_id():
    return uuid.uuid4().int % 1_000_000_000 + 1_000_000_000


def registered(user_id):
    address = f"ada.{uuid.uuid4().hex[:10]}@example.com"
    return make_event(
        USER_REGISTERED, user_id=user_id, email=address, name="Ada Lovelace", role="customer"
    )


def order_event(kind, user_id, **extra):
    order = {
        "order_id": uuid.uuid4().hex,
        "user_id": user_id,
        "items": [{"product_id": 1, "quantity": 3, "price_cents": 1250}],
        "total_cents": 3750,
    }
    return make_event(kind, **order, **extra)


def confirmed(user_id):
    return order_event(ORDER_CONFIRMED, user_id, confirmed_at="2026-11-26T10:00:00+00:00")


def cancelled(user_id):
    return order_event(ORDER_CANCELLED, user_id, reason="out_of_stock", confirmed_at=None)


def declined(user_id):
    return make_event(
        PAYMENT_DECLINED,
        order_id=uuid.uuid4().hex,
        user_id=user_id,
        amount_cents=3750,
        reason="card_expired",
    )


def deliver(container, config, kind, event):
    """Dispatch ``event`` and wait until the service has handled this very event."""

    def callback(worker_ctx, result, exc_info):
        return exc_info is None and worker_ctx.args[0]["event_id"] == event["event_id"]

    with entrypoint_waiter(container, f"handle_{kind}", callback=callback, timeout=15):
        event_dispatcher(config)(SOURCES[kind], kind, event)


def notifications_of(engine, event_id):
    with engine.connect() as conn:
        return conn.execute(select(Notification).where(Notification.event_id == event_id)).all()


def test_a_registration_stores_the_recipient_and_mails_a_welcome(service, config, engine, sink):
    user_id = new_user_id()
    event = registered(user_id)
    deliver(service, config, USER_REGISTERED, event)

    (row,) = notifications_of(engine, event["event_id"])
    assert (row.user_id, row.kind) == (user_id, USER_REGISTERED)
    assert row.subject == "Welcome to the shop"
    assert (row.sent_at is not None, row.attempts, row.last_error) == (True, 1, None)
    (mail,) = sink.wait_for_mail(event["event_id"])
    assert mail["X-RcptTo"] == event["email"]
    assert mail["To"].addresses[0].addr_spec == event["email"]
    assert mail["To"].addresses[0].display_name == ""  # no text the registrant chose
    assert mail["From"] == "shop@example.com"
    assert mail["Subject"] == row.subject
    assert mail.get_content() == row.body
    with engine.connect() as conn:
        recipient = conn.execute(select(Recipient).where(Recipient.user_id == user_id)).one()
    assert (recipient.email, recipient.name) == (event["email"], "Ada Lovelace")


@pytest.mark.parametrize(
    ("kind", "make", "subject"),
    [
        (ORDER_CONFIRMED, confirmed, "Your order {ref} is confirmed"),
        (ORDER_CANCELLED, cancelled, "Your order {ref} was cancelled"),
        (PAYMENT_DECLINED, declined, "Your payment for order {ref} was declined"),
    ],
)
def test_an_order_event_mails_the_registered_recipient(
    service, config, engine, sink, kind, make, subject
):
    user_id = new_user_id()
    welcome = registered(user_id)
    deliver(service, config, USER_REGISTERED, welcome)
    event = make(user_id)
    deliver(service, config, kind, event)

    (row,) = notifications_of(engine, event["event_id"])
    assert (row.user_id, row.kind) == (user_id, kind)
    assert row.subject == subject.format(ref=event["order_id"][:8])
    (mail,) = sink.wait_for_mail(event["event_id"])
    assert mail["X-RcptTo"] == welcome["email"]
    assert mail["Subject"] == row.subject
    assert "37.50" in mail.get_content()


def test_the_same_event_twice_is_one_notification_and_one_mail(service, config, engine, sink):
    user_id = new_user_id()
    deliver(service, config, USER_REGISTERED, registered(user_id))
    event = cancelled(user_id)
    deliver(service, config, ORDER_CANCELLED, event)
    deliver(service, config, ORDER_CANCELLED, event)

    assert len(notifications_of(engine, event["event_id"])) == 1
    assert len(sink.wait_for_mail(event["event_id"])) == 1
    with engine.connect() as conn:
        processed = conn.scalar(
            select(func.count()).where(processed_events.c.event_id == event["event_id"])
        )
    assert processed == 1


def test_a_declined_payment_without_a_user_is_processed_without_a_notification(
    service, config, engine
):
    event = declined(None)
    deliver(service, config, PAYMENT_DECLINED, event)
    assert notifications_of(engine, event["event_id"]) == []
    with engine.connect() as conn:
        consumers = conn.scalars(
            select(processed_events.c.consumer).where(
                processed_events.c.event_id == event["event_id"]
            )
        ).all()
    assert consumers == ["notifications.handle_payment_declined"]


def test_an_unknown_recipient_is_asked_of_the_users_service_and_kept(service, config, engine, sink):
    user_id = new_user_id()
    event = confirmed(user_id)
    deliver(service, config, ORDER_CONFIRMED, event)

    (mail,) = sink.wait_for_mail(event["event_id"])
    assert mail["X-RcptTo"] == f"user-{user_id}@example.com"
    with engine.connect() as conn:
        recipient = conn.execute(select(Recipient).where(Recipient.user_id == user_id)).one()
    assert recipient.name == f"User {user_id}"


def sending_state(engine, event_id):
    with engine.connect() as conn:
        return conn.execute(
            select(Notification.sent_at, Notification.attempts, Notification.last_error).where(
                Notification.event_id == event_id
            )
        ).one()


def test_a_user_nobody_knows_yet_is_mailed_once_the_users_service_knows_them(
    runner_factory, config, engine, sink
):
    user_id = new_user_id()
    Users.unknown.add(user_id)
    # Tries every 0.2 s: the bound must outlast the test's wait for the users service.
    retrying = {**config, "MAIL_RETRY_INTERVAL": 0.2, "MAIL_MAX_ATTEMPTS": 1000}
    runner = runner_factory(retrying, NotificationsService, Users)
    runner.start()
    event = confirmed(user_id)
    deliver(runner.service_map["notifications"], config, ORDER_CONFIRMED, event)

    state = sending_state(engine, event["event_id"])
    assert state.sent_at is None and state.attempts >= 1
    assert state.last_error.endswith(f"No user {user_id}")
    assert sink.mails(event["event_id"]) == []

    Users.unknown.discard(user_id)
    wait_for(lambda: sending_state(engine, event["event_id"]).sent_at, what="the retry")
    (mail,) = sink.wait_for_mail(event["event_id"])
    assert mail["X-RcptTo"] == f"user-{user_id}@example.com"


def test_mail_waits_for_the_mail_server_then_goes_out_once(
    runner_factory, config, engine, tmp_path
):
    port = free_port()  # nothing listens there yet
    # Tries every 0.2 s, and a server that cannot be reached costs no try: the bound of 2 is
    # not reached however long it takes to come.
    retrying = {**config, "SMTP_PORT": port, "MAIL_RETRY_INTERVAL": 0.2, "MAIL_MAX_ATTEMPTS": 2}
    runner = runner_factory(retrying, NotificationsService, Users)
    runner.start()
    event = registered(new_user_id())
    deliver(runner.service_map["notifications"], config, USER_REGISTERED, event)

    state = sending_state(engine, event["event_id"])
    assert state.sent_at is None and state.attempts == 0
    assert state.last_error.startswith("MailUnavailable")
    time.sleep(1)  # five retries against the closed port
    assert sending_state(engine, event["event_id"]).attempts == 0

    late = Sink(port, tmp_path / "maildir").start()
    try:
        wait_for(lambda: sending_state(engine, event["event_id"]).sent_at, what="the retry")
        (mail,) = late.wait_for_mail(event["event_id"])
    finally:
        late.stop()
    assert mail["X-RcptTo"] == event["email"]
    assert mail["Subject"] == "Welcome to the shop"
    assert sending_state(engine, event["event_id"]).attempts == 1  # the one that went out


def test_list_notifications_pages_newest_first(service, config):
    user_id = new_user_id()
    events = [
        (USER_REGISTERED, registered(user_id)),
        (ORDER_CONFIRMED, confirmed(user_id)),
        (ORDER_CANCELLED, cancelled(user_id)),
        (PAYMENT_DECLINED, declined(user_id)),
    ]
    for kind, event in events:
        deliver(service, config, kind, event)

    with entrypoint_hook(service, "list_notifications") as list_notifications:
        first = list_notifications(user_id, 0, 3)
        second = list_notifications(user_id, offset=3, limit=3)
        default = list_notifications(user_id)
        nobody = list_notifications(new_user_id())

    assert (first["total"], first["offset"], first["limit"]) == (4, 0, 3)
    assert [item["kind"] for item in first["items"]] == [
        PAYMENT_DECLINED,
        ORDER_CANCELLED,
        ORDER_CONFIRMED,
    ]
    assert [item["kind"] for item in second["items"]] == [USER_REGISTERED]
    assert (second["total"], second["offset"], second["limit"]) == (4, 3, 3)
    assert default["items"] == first["items"] + second["items"]
    assert (default["offset"], default["limit"]) == (0, 20)
    assert nobody == {"items": [], "total": 0, "offset": 0, "limit": 20}

    welcome = second["items"][0]
    assert set(welcome) == {"id", "user_id", "kind", "subject", "body", "created_at"}
    assert welcome["user_id"] == user_id
    assert welcome["subject"] == "Welcome to the shop"
    created = [datetime.fromisoformat(item["created_at"]) for item in default["items"]]
    assert all(moment.tzinfo is not None for moment in created)
    assert created == sorted(created, reverse=True)


def test_a_mail_server_restarted_between_two_mails_costs_no_mail(
    runner_factory, config, engine, tmp_path
):
    port = free_port()
    runner = runner_factory({**config, "SMTP_PORT": port}, NotificationsService, Users)
    runner.start()
    container = runner.service_map["notifications"]
    first, second = registered(new_user_id()), registered(new_user_id())
    sink = Sink(port, tmp_path / "before").start()
    try:
        deliver(container, config, USER_REGISTERED, first)  # leaves its session open for reuse
        sink.wait_for_mail(first["event_id"])
    finally:
        sink.stop()  # the session kept open is now dead
    sink = Sink(port, tmp_path / "after").start()
    try:
        deliver(container, config, USER_REGISTERED, second)
        (mail,) = sink.wait_for_mail(second["event_id"])
    finally:
        sink.stop()
    assert mail["X-RcptTo"] == second["email"]
    assert sending_state(engine, second["event_id"]).attempts == 1  # sent on its first try


NO_SUCH_USER = "550 5.1.1 no such user"
TRY_LATER = "451 4.3.0 try later"


@pytest.fixture
def refusing(runner_factory, config, refuser):
    """The service mailing through the ``refuser``, giving up after 3 tries. Its timer stays
    idle: the tests run ``deliver_pending`` themselves."""
    refusing = {**config, "SMTP_PORT": refuser.port, "MAIL_MAX_ATTEMPTS": 3}
    runner = runner_factory(refusing, NotificationsService, Users)
    runner.start()
    return runner.service_map["notifications"]


def retry(container, times=1):
    with entrypoint_hook(container, "deliver_pending") as deliver_pending:
        for _ in range(times):
            deliver_pending()


def retry_until(container, predicate, what):
    """Retries until ``predicate()`` holds: unsent rows other tests left may come first."""

    def retried():
        retry(container)
        return predicate()

    return wait_for(retried, what)


def failing_state(engine, event_id):
    with engine.connect() as conn:
        return conn.execute(
            select(
                Notification.sent_at,
                Notification.failed_at,
                Notification.attempts,
                Notification.last_error,
            ).where(Notification.event_id == event_id)
        ).one()


def failures(kind):
    """How many notifications of ``kind`` were given up on, by reason, in this process."""
    return {
        reason: REGISTRY.get_sample_value(
            "shop_notifications_failed_total",
            {"service": "notifications", "kind": kind, "reason": reason},
        )
        or 0
        for reason in ("rejected", "attempts_exhausted")
    }


def test_a_mail_refused_for_good_is_tried_once_then_left_alone(refusing, config, engine, refuser):
    event = registered(new_user_id())
    refuser.refusals[event["email"]] = NO_SUCH_USER
    before = failures(USER_REGISTERED)
    deliver(refusing, config, USER_REGISTERED, event)

    state = failing_state(engine, event["event_id"])
    assert state.sent_at is None and state.failed_at is not None
    assert state.attempts == 1
    assert state.last_error.startswith("MailRejected: SMTPRecipientsRefused")
    assert "(550, b'5.1.1 no such user')" in state.last_error
    retry(refusing, times=4)
    assert refuser.rcpts[event["email"]] == 1
    assert failing_state(engine, event["event_id"]) == state
    assert failures(USER_REGISTERED) == {
        "rejected": before["rejected"] + 1,
        "attempts_exhausted": before["attempts_exhausted"],
    }


def test_a_mail_refused_for_now_is_retried_up_to_the_bound_then_failed(
    refusing, config, engine, refuser
):
    event = registered(new_user_id())
    refuser.refusals[event["email"]] = TRY_LATER
    before = failures(USER_REGISTERED)
    deliver(refusing, config, USER_REGISTERED, event)

    state = failing_state(engine, event["event_id"])
    assert (state.sent_at, state.failed_at, state.attempts) == (None, None, 1)
    assert "(451, b'4.3.0 try later')" in state.last_error
    retry_until(
        refusing,
        lambda: failing_state(engine, event["event_id"]).failed_at,
        what="the last attempt",
    )
    retry(refusing, times=3)
    state = failing_state(engine, event["event_id"])
    assert (state.sent_at, state.attempts) == (None, 3)
    assert refuser.rcpts[event["email"]] == 3
    assert failures(USER_REGISTERED) == {
        "rejected": before["rejected"],
        "attempts_exhausted": before["attempts_exhausted"] + 1,
    }


def test_other_mail_goes_out_while_one_address_is_refused(refusing, config, engine, refuser):
    refused, other = registered(new_user_id()), registered(new_user_id())
    refuser.refusals[refused["email"]] = refuser.refusals[other["email"]] = TRY_LATER
    for event in (refused, other):  # both unsent, the refused one first in the retry batch
        deliver(refusing, config, USER_REGISTERED, event)
    refuser.refusals[refused["email"]] = NO_SUCH_USER
    del refuser.refusals[other["email"]]
    accepted = registered(new_user_id())
    deliver(refusing, config, USER_REGISTERED, accepted)

    retry_until(
        refusing, lambda: failing_state(engine, other["event_id"]).sent_at, what="the retry"
    )
    state = failing_state(engine, refused["event_id"])
    assert state.failed_at is not None and state.attempts == 2
    assert "(550, b'5.1.1 no such user')" in state.last_error
    assert failing_state(engine, accepted["event_id"]).attempts == 1
    assert refuser.delivered.count(other["email"]) == 1
    assert refuser.delivered.count(accepted["email"]) == 1
    assert refused["email"] not in refuser.delivered
