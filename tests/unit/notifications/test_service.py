import logging
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory
from prometheus_client import REGISTRY

from chassis.contracts.events import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    PAYMENT_DECLINED,
    USER_REGISTERED,
    make_event,
)
from chassis.errors import InvalidInput
from chassis.testing import FakeStore
from notifications.mailer import MailRejected, MailUnavailable
from notifications.service import NotificationsService
from notifications.settings import NotificationsSettings
from tests.unit.notifications.fakes import InMemoryNotifications, pending

ORDER = {
    "order_id": "1a2b3c4d5e6f",
    "user_id": 7,
    "items": [{"product_id": 1, "quantity": 2, "price_cents": 600}],
    "total_cents": 1200,
}
EVENTS = {
    USER_REGISTERED: lambda: make_event(
        USER_REGISTERED, user_id=7, email="ada@example.com", name="Ada", role="customer"
    ),
    ORDER_CONFIRMED: lambda: make_event(
        ORDER_CONFIRMED, **ORDER, confirmed_at="2026-11-26T10:00:00+00:00"
    ),
    ORDER_CANCELLED: lambda: make_event(
        ORDER_CANCELLED, **ORDER, reason="out_of_stock", confirmed_at=None
    ),
    PAYMENT_DECLINED: lambda: make_event(
        PAYMENT_DECLINED, order_id="1a2b3c4d5e6f", user_id=7, amount_cents=1200, reason="nope"
    ),
}


def serving(notifications=None, store_class=FakeStore, **settings):
    """The service over ``notifications`` (none stored, by default)."""
    store = store_class(notifications or InMemoryNotifications())
    values = NotificationsSettings(**{name.lower(): value for name, value in settings.items()})
    return worker_factory(NotificationsService, settings=values, store=store)


def stored(service):
    return service.store.repository


@pytest.mark.parametrize("kind", list(EVENTS))
def test_a_duplicate_event_stores_and_sends_nothing(kind):
    service = serving()
    service.inbox.first_delivery.return_value = False
    event = EVENTS[kind]()
    getattr(service, f"handle_{kind}")(event)
    service.inbox.first_delivery.assert_called_once_with(stored(service).session, event)
    assert stored(service).recipients == {}
    assert stored(service).rows == {}
    assert not service.mailer.send.called


def test_a_payment_declined_without_a_user_is_recorded_but_notifies_nobody():
    service = serving()
    service.inbox.first_delivery.return_value = True
    event = make_event(
        PAYMENT_DECLINED, order_id="o-1", user_id=None, amount_cents=100, reason="nope"
    )
    service.handle_payment_declined(event)
    service.inbox.first_delivery.assert_called_once_with(stored(service).session, event)
    assert stored(service).rows == {}
    assert not service.mailer.send.called


def test_a_new_event_is_stored_mailed_and_marked_sent_in_one_transaction():
    service = serving()
    service.inbox.first_delivery.return_value = True
    service.handle_user_registered(EVENTS[USER_REGISTERED]())
    assert stored(service).recipients == {7: ("ada@example.com", "Ada")}
    (row,) = stored(service).rows.values()
    service.mailer.send.assert_called_once_with(
        "ada@example.com", row.subject, row.body, reference=row.event_id
    )
    assert row.sent_at is not None and row.attempts == 1
    assert service.store.transactions == 1


def test_an_event_breaking_its_contract_is_refused_before_the_database():
    service = serving()
    with pytest.raises(InvalidInput):
        service.handle_order_confirmed({"event_id": "e-1", "order_id": "o-1"})
    assert service.store.transactions == 0


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        ((0,), {"user_id"}),
        (("7",), {"user_id"}),
        ((7, -1, 20), {"offset"}),
        ((7, 0, 0), {"limit"}),
        ((7, 0, 101), {"limit"}),
        ((7, "0", 1.5), {"offset", "limit"}),
        ((None, None, None), {"user_id", "offset", "limit"}),
    ],
)
def test_list_refuses_bad_page_input_naming_the_fields(args, fields):
    service = serving()
    with pytest.raises(InvalidInput) as caught:
        service.list_notifications(*args)
    assert set(caught.value.fields) == fields
    assert service.store.transactions == 0


def retrying(rows, *outcomes, max_attempts=3, store_class=FakeStore):
    """The service, about to retry ``rows``, with the mailer answering ``outcomes`` in turn."""
    notifications = InMemoryNotifications(*rows, recipients={7: "a@example.com"})
    service = serving(notifications, store_class, MAIL_MAX_ATTEMPTS=max_attempts)
    service.mailer.send.side_effect = outcomes
    return service


def failures(reason):
    labels = {"service": "notifications", "kind": ORDER_CONFIRMED, "reason": reason}
    return REGISTRY.get_sample_value("shop_notifications_failed_total", labels) or 0


def test_retries_skip_a_refused_message_and_stop_when_the_server_is_down():
    rows = pending(1, 2, 3, 4)
    service = retrying(rows, None, MailRejected("451 later", 451), MailUnavailable("down"))

    assert service.deliver_pending() == 1
    assert [call.args[1] for call in service.mailer.send.call_args_list] == ["s1", "s2", "s3"]
    assert [row.attempts for row in rows] == [1, 1, 0, 0]  # an unreachable server costs no try
    assert rows[0].sent_at is not None and rows[0].last_error is None
    assert rows[1].sent_at is None and rows[1].last_error == "MailRejected: 451 later"
    assert rows[2].sent_at is None and rows[2].last_error == "MailUnavailable: down"
    assert [row.failed_at for row in rows] == [None] * 4


def test_retries_look_only_at_rows_neither_sent_nor_failed():
    sent, failed = pending(1, 2)
    sent.sent_at = failed.failed_at = datetime.now(UTC)
    service = retrying([sent, failed])
    assert service.deliver_pending() == 0
    assert not service.mailer.send.called


def test_a_permanent_refusal_fails_the_row_at_once_and_counts_it(caplog):
    rows = pending(1, 2)
    service = retrying(rows, MailRejected("550 no such user", 550, permanent=True), None)
    before = failures("rejected")

    with caplog.at_level(logging.WARNING, logger="notifications.service"):
        assert service.deliver_pending() == 1
    assert rows[0].failed_at is not None and rows[0].sent_at is None
    assert (rows[0].attempts, rows[0].last_error) == (1, "MailRejected: 550 no such user")
    assert rows[1].sent_at is not None and rows[1].failed_at is None
    assert failures("rejected") == before + 1
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "notification 1 (order_confirmed) given up after 1 attempt(s), rejected:"
        " MailRejected: 550 no such user"
    )


@pytest.mark.parametrize("error", [MailRejected("451 later", 451), RuntimeError("boom")])
def test_any_failure_on_the_last_attempt_fails_the_row(caplog, error):
    (row,) = rows = pending(1, attempts=2)
    service = retrying(rows, error, max_attempts=3)
    before = failures("attempts_exhausted")

    with caplog.at_level(logging.WARNING, logger="notifications.service"):
        service.deliver_pending()
    assert row.failed_at is not None and row.attempts == 3
    assert failures("attempts_exhausted") == before + 1
    assert [record.levelno for record in caplog.records] == [logging.ERROR]


def test_an_unreachable_mail_server_never_uses_up_the_tries(caplog):
    (row,) = rows = pending(1, attempts=2)
    service = retrying(rows, MailUnavailable("down"), max_attempts=3)
    before = failures("attempts_exhausted")

    service.deliver_pending()
    assert row.failed_at is None and row.attempts == 2
    assert row.last_error == "MailUnavailable: down"
    assert failures("attempts_exhausted") == before


def test_a_transient_failure_before_the_last_attempt_is_left_for_a_retry(caplog):
    (row,) = rows = pending(1, attempts=1)
    service = retrying(rows, MailRejected("451 later", 451), max_attempts=3)
    before = failures("attempts_exhausted")

    with caplog.at_level(logging.WARNING, logger="notifications.service"):
        service.deliver_pending()
    assert row.failed_at is None and row.attempts == 2
    assert failures("attempts_exhausted") == before
    assert [record.levelno for record in caplog.records] == [logging.WARNING]


class FailingCommit(FakeStore):
    @contextmanager
    def transaction(self):
        with super().transaction() as repository:
            yield repository
        raise RuntimeError("commit failed")


def test_nothing_is_counted_when_marking_the_row_failed_is_not_committed():
    rows = pending(1)
    service = retrying(rows, MailRejected("550 no", 550, permanent=True), store_class=FailingCommit)
    before = failures("rejected")

    with pytest.raises(RuntimeError):
        service.deliver_pending()
    assert failures("rejected") == before


def test_an_unknown_recipient_is_asked_of_the_users_service_and_kept():
    service = serving(InMemoryNotifications(*pending(5)), USERS_RPC_TIMEOUT=1)
    service.users_rpc.get_user.return_value = {"id": 7, "email": "b@example.com", "name": "B"}

    assert service.deliver_pending() == 1
    service.users_rpc.get_user.assert_called_once_with(7)
    assert stored(service).recipients == {7: ("b@example.com", "B")}
    service.mailer.send.assert_called_once_with("b@example.com", "s5", "b", reference="e5")
