import pytest
from nameko.testing.services import worker_factory

from chassis.contracts.events import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    PAYMENT_DECLINED,
    USER_REGISTERED,
    make_event,
)
from chassis.errors import InvalidInput
from notifications.mailer import MailRejected, MailUnavailable
from notifications.models import Notification, Recipient
from notifications.service import NotificationsService

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


def session_of(service):
    return service.db.get_session.return_value.__enter__.return_value


@pytest.mark.parametrize("kind", list(EVENTS))
def test_a_duplicate_event_stores_and_sends_nothing(kind):
    service = worker_factory(NotificationsService)
    service.inbox.first_delivery.return_value = False
    event = EVENTS[kind]()
    getattr(service, f"handle_{kind}")(event)
    service.inbox.first_delivery.assert_called_once_with(session_of(service), event)
    assert not session_of(service).execute.called
    assert not session_of(service).scalar.called
    assert not service.mailer.send.called


def test_a_payment_declined_without_a_user_is_recorded_but_notifies_nobody():
    service = worker_factory(NotificationsService)
    service.inbox.first_delivery.return_value = True
    event = make_event(
        PAYMENT_DECLINED, order_id="o-1", user_id=None, amount_cents=100, reason="nope"
    )
    service.handle_payment_declined(event)
    service.inbox.first_delivery.assert_called_once_with(session_of(service), event)
    assert not session_of(service).scalar.called
    assert not service.mailer.send.called


def test_an_event_breaking_its_contract_is_refused_before_the_database():
    service = worker_factory(NotificationsService)
    with pytest.raises(InvalidInput):
        service.handle_order_confirmed({"event_id": "e-1", "order_id": "o-1"})
    assert not service.db.get_session.called


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
    service = worker_factory(NotificationsService)
    with pytest.raises(InvalidInput) as caught:
        service.list_notifications(*args)
    assert set(caught.value.fields) == fields
    assert not service.db.get_session.called


def pending(*ids):
    return [
        Notification(id=i, user_id=7, subject=f"s{i}", body="b", event_id=f"e{i}", attempts=0)
        for i in ids
    ]


def test_retries_skip_a_refused_message_and_stop_when_the_server_is_down():
    service = worker_factory(NotificationsService)
    rows = pending(1, 2, 3, 4)
    session_of(service).scalars.return_value.all.return_value = rows
    session_of(service).get.return_value = Recipient(user_id=7, email="a@example.com", name="A")
    service.mailer.send.side_effect = [None, MailRejected("550 no"), MailUnavailable("down")]

    assert service.deliver_pending() == 1
    assert [call.args[1] for call in service.mailer.send.call_args_list] == ["s1", "s2", "s3"]
    assert [row.attempts for row in rows] == [1, 1, 1, 0]
    assert rows[0].sent_at is not None and rows[0].last_error is None
    assert rows[1].sent_at is None and rows[1].last_error == "MailRejected: 550 no"
    assert rows[2].sent_at is None and rows[2].last_error == "MailUnavailable: down"


def test_an_unknown_recipient_is_asked_of_the_users_service_and_kept():
    service = worker_factory(NotificationsService, config={"USERS_RPC_TIMEOUT": 1})
    rows = pending(5)
    session_of(service).scalars.return_value.all.return_value = rows
    session_of(service).get.return_value = None
    service.users_rpc.get_user.return_value = {"id": 7, "email": "b@example.com", "name": "B"}

    assert service.deliver_pending() == 1
    service.users_rpc.get_user.assert_called_once_with(7)
    upsert = session_of(service).execute.call_args.args[0]
    assert upsert.compile().params == {"user_id": 7, "email": "b@example.com", "name": "B"}
    service.mailer.send.assert_called_once_with(
        "b@example.com", "s5", "b", name="B", reference="e5"
    )
