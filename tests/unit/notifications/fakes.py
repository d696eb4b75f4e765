"""An in-memory stand-in for ``NotificationsRepository``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chassis.contracts.events import ORDER_CONFIRMED
from notifications.domain import Message
from notifications.models import Notification


def pending(*ids: int, attempts: int = 0) -> list[Notification]:
    """Unsent order confirmations to user 7, older as their id is lower."""
    return [
        Notification(
            id=i,
            user_id=7,
            kind=ORDER_CONFIRMED,
            subject=f"s{i}",
            body="b",
            event_id=f"e{i}",
            attempts=attempts,
            created_at=datetime(2026, 11, 26, tzinfo=UTC) + timedelta(seconds=i),
        )
        for i in ids
    ]


class InMemoryNotifications:
    def __init__(self, *rows: Notification, recipients: dict[int, str] | None = None) -> None:
        self.session = object()
        self.rows = {row.id: row for row in rows}
        self.recipients = {
            user_id: (email, f"user {user_id}") for user_id, email in (recipients or {}).items()
        }

    def add(self, user_id: int, kind: str, message: Message, event_id: str) -> Notification:
        row = Notification(
            id=max(self.rows, default=0) + 1,
            user_id=user_id,
            kind=kind,
            subject=message.subject,
            body=message.body,
            event_id=event_id,
            attempts=0,
            created_at=datetime.now(UTC),
        )
        self.rows[row.id] = row
        return row

    def unsent(self, limit: int) -> list[Notification]:
        rows = [row for row in self.rows.values() if _unsent(row)]
        return sorted(rows, key=lambda row: (row.attempts, row.id))[:limit]

    def mark_sent(self, notification: Notification) -> None:
        notification.sent_at = datetime.now(UTC)

    def mark_failed(self, notification: Notification) -> None:
        notification.failed_at = datetime.now(UTC)

    def for_user(self, user_id: int, offset: int, limit: int) -> dict[str, Any]:
        rows = [row for row in self.rows.values() if row.user_id == user_id]
        rows.sort(key=lambda row: (row.created_at, row.id), reverse=True)
        return {
            "items": rows[offset : offset + limit],
            "total": len(rows),
            "offset": offset,
            "limit": limit,
        }

    def email_of(self, user_id: int) -> str | None:
        recipient = self.recipients.get(user_id)
        return None if recipient is None else recipient[0]

    def keep_recipient(self, user_id: int, email: str, name: str) -> None:
        self.recipients[user_id] = (email, name)


def _unsent(row: Notification) -> bool:
    return row.sent_at is None and row.failed_at is None
