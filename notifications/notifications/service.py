from __future__ import annotations

import logging
from typing import Any, NamedTuple

from chassis import base
from chassis.contracts.events import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    PAYMENT_DECLINED,
    SOURCES,
    USER_REGISTERED,
    parse_event,
)
from chassis.inbox import Inbox, event_handler
from chassis.metrics import NOTIFICATIONS_FAILED
from chassis.rpc import RpcProxy, call_within, rpc
from chassis.schemas import dump, load
from chassis.settings import Settings
from chassis.store import Store, Transactions
from chassis.timers import timer
from notifications import domain, schemas
from notifications.mailer import Mailer, MailRejected, MailUnavailable
from notifications.models import Base, Notification
from notifications.repository import NotificationsRepository
from notifications.settings import NotificationsSettings

_log = logging.getLogger(__name__)

RETRY_BATCH_SIZE = 50
REJECTED, ATTEMPTS_EXHAUSTED = "rejected", "attempts_exhausted"


class GivenUp(NamedTuple):
    """A notification marked failed, to be reported once that is committed."""

    id: int
    kind: str
    attempts: int
    reason: str
    error: str


class NotificationsService(base.ServiceBase):
    """Tells users about their account and their orders, by mail.

    Each message is stored first, in the transaction that records its event as processed, and
    mailed after the commit; what could not be mailed then is retried by ``deliver_pending``,
    up to ``MAIL_MAX_ATTEMPTS`` tries in all. A message the mail server refuses for good (a 5xx
    reply), or still unsent after its last try, is marked failed and left alone.
    """

    name = "notifications"

    store: Transactions[NotificationsRepository] = Store(Base, NotificationsRepository)
    inbox = Inbox(Base)
    mailer = Mailer()
    users_rpc = RpcProxy("users")
    settings = Settings(NotificationsSettings)

    @event_handler(SOURCES[USER_REGISTERED], USER_REGISTERED)
    def handle_user_registered(self, body: Any) -> None:
        event = parse_event(USER_REGISTERED, body)
        self._notify(
            USER_REGISTERED,
            event,
            event["user_id"],
            domain.welcome(event["name"]),
            recipient=(event["email"], event["name"]),
        )

    @event_handler(SOURCES[ORDER_CONFIRMED], ORDER_CONFIRMED)
    def handle_order_confirmed(self, body: Any) -> None:
        event = parse_event(ORDER_CONFIRMED, body)
        message = domain.order_confirmed(event["order_id"], event["total_cents"])
        self._notify(ORDER_CONFIRMED, event, event["user_id"], message)

    @event_handler(SOURCES[ORDER_CANCELLED], ORDER_CANCELLED)
    def handle_order_cancelled(self, body: Any) -> None:
        event = parse_event(ORDER_CANCELLED, body)
        message = domain.order_cancelled(event["order_id"], event["total_cents"], event["reason"])
        self._notify(ORDER_CANCELLED, event, event["user_id"], message)

    @event_handler(SOURCES[PAYMENT_DECLINED], PAYMENT_DECLINED)
    def handle_payment_declined(self, body: Any) -> None:
        event = parse_event(PAYMENT_DECLINED, body)
        message = domain.payment_declined(event["order_id"], event["amount_cents"], event["reason"])
        self._notify(PAYMENT_DECLINED, event, event["user_id"], message)

    @timer("MAIL_RETRY_INTERVAL", default=5)
    def deliver_pending(self) -> int:
        """Mail one batch of unsent notifications, least tried first (so a few that keep
        failing never hold back newer mail); returns how many went out. Failed ones (see
        ``_deliver``) are never picked up again.

        ``SKIP LOCKED`` lets several instances (and the handlers' own first attempts) work side
        by side without mailing the same row twice.
        """
        sent = 0
        given_up: list[GivenUp] = []
        with self.store.transaction() as notifications:
            for row in notifications.unsent(RETRY_BATCH_SIZE):
                error = self._deliver(notifications, row, given_up)
                if error is None:
                    sent += 1
                elif isinstance(error, MailUnavailable):
                    break  # the next rows would fail the same way: wait for the next tick
        self._report(given_up)
        return sent

    @rpc
    def list_notifications(self, user_id: int, offset: int = 0, limit: int = 20) -> dict[str, Any]:
        page = load(
            schemas.NotificationsPage, {"user_id": user_id, "offset": offset, "limit": limit}
        )
        with self.store.transaction() as notifications:
            mine = notifications.for_user(page["user_id"], page["offset"], page["limit"])
            return {**mine, "items": dump(schemas.Notification, mine["items"], many=True)}

    def _notify(
        self,
        kind: str,
        event: dict[str, Any],
        user_id: int | None,
        message: domain.Message,
        recipient: tuple[str, str] | None = None,
    ) -> None:
        """Record the event as processed, store its notification and try to mail it, in one
        transaction. A repeated delivery of the event does nothing; what fails to go out,
        unless refused for good, is left unsent for ``deliver_pending``.

        The mail goes out before the commit: a crash in between rolls the event back, and its
        redelivery mails it again under the same Message-ID (at least once, as the retries are).
        """
        given_up: list[GivenUp] = []
        with self.store.transaction() as notifications:
            if not self.inbox.first_delivery(notifications.session, event):
                return
            if recipient is not None:
                notifications.keep_recipient(event["user_id"], *recipient)
            if user_id is None:
                return
            row = notifications.add(user_id, kind, message, event["event_id"])
            self._deliver(notifications, row, given_up)
        self._report(given_up)

    def _deliver(
        self, notifications: NotificationsRepository, row: Notification, given_up: list[GivenUp]
    ) -> Exception | None:
        """Mail ``row`` (locked by the caller) and mark it sent. A failure is counted and kept
        on the row, and returned; the row stays unsent for the next try, unless the refusal
        was permanent or that was its last try: then it is marked failed and added to
        ``given_up``, for the caller to report once committed."""
        try:
            email = self._recipient(notifications, row.user_id)
            self.mailer.send(email, row.subject, row.body, reference=row.event_id)
        except Exception as exc:
            row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            # A mail server that cannot be reached never saw the message: an outage, however
            # long, costs it none of its tries.
            if not isinstance(exc, MailUnavailable):
                row.attempts += 1
            reason = self._give_up_reason(row, exc)
            if reason is None:
                _log.warning(
                    "notification %s not sent (attempt %d), will retry: %s",
                    row.id,
                    row.attempts,
                    row.last_error,
                )
            else:
                notifications.mark_failed(row)
                given_up.append(GivenUp(row.id, row.kind, row.attempts, reason, row.last_error))
            return exc
        row.attempts += 1
        notifications.mark_sent(row)
        return None

    def _give_up_reason(self, row: Notification, exc: Exception) -> str | None:
        """Why sending ``row`` stops after this failure, or None while it is worth a retry."""
        if isinstance(exc, MailRejected) and exc.permanent:
            return REJECTED
        exhausted = row.attempts >= self.settings.mail_max_attempts
        if not isinstance(exc, MailUnavailable) and exhausted:
            return ATTEMPTS_EXHAUSTED
        return None

    def _report(self, given_up: list[GivenUp]) -> None:
        """Count and log each notification given up on: after the commit, so that a failed
        commit (the row then stays unsent) counts nothing."""
        for failed in given_up:
            NOTIFICATIONS_FAILED.labels(self.name, failed.kind, failed.reason).inc()
            _log.error(
                "notification %s (%s) given up after %d attempt(s), %s: %s",
                failed.id,
                failed.kind,
                failed.attempts,
                failed.reason,
                failed.error,
            )

    def _recipient(self, notifications: NotificationsRepository, user_id: int) -> str:
        """The user's address, from the local copy, else asked of the users service and kept."""
        email = notifications.email_of(user_id)
        if email is not None:
            return email
        timeout = self.settings.users_rpc_timeout
        user = call_within(self.users_rpc, "get_user", timeout, user_id)
        notifications.keep_recipient(user_id, user["email"], user["name"])
        return str(user["email"])
