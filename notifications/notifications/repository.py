"""The notifications service's SQL: the messages, and where to send them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from chassis.store import Repository
from notifications.domain import Message
from notifications.models import Notification, Recipient

# Neither sent nor given up on: what the first attempt and the retries look for.
UNSENT = (Notification.sent_at.is_(None), Notification.failed_at.is_(None))


class NotificationsRepository(Repository):
    def add(self, user_id: int, kind: str, message: Message, event_id: str) -> Notification:
        """Store a message to send; returns its row, to be mailed in the same transaction."""
        row = Notification(
            user_id=user_id,
            kind=kind,
            subject=message.subject,
            body=message.body,
            event_id=event_id,
            attempts=0,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def unsent(self, limit: int) -> list[Notification]:
        """Up to ``limit`` unsent messages, least tried first, each locked; ``SKIP LOCKED``
        leaves out those another transaction is sending."""
        return list(
            self.session.scalars(
                select(Notification)
                .where(*UNSENT)
                .order_by(Notification.attempts, Notification.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )

    def mark_sent(self, notification: Notification) -> None:
        notification.sent_at = func.now()

    def mark_failed(self, notification: Notification) -> None:
        """Give up on the message: it is never tried again."""
        notification.failed_at = func.now()

    def for_user(self, user_id: int, offset: int, limit: int) -> dict[str, Any]:
        """A page of the user's messages, newest first."""
        return self.page(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc()),
            offset,
            limit,
        )

    def email_of(self, user_id: int) -> str | None:
        """The user's address, from the local copy."""
        recipient = self.session.get(Recipient, user_id)
        return None if recipient is None else recipient.email

    def keep_recipient(self, user_id: int, email: str, name: str) -> None:
        """Store (or refresh) the local copy of where to write to the user."""
        statement = insert(Recipient).values(user_id=user_id, email=email, name=name)
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[Recipient.user_id],
                set_={"email": statement.excluded.email, "name": statement.excluded.name},
            )
        )
