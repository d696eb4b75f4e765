"""The queries behind the notifications service, as they are sent (no database)."""

from unittest.mock import MagicMock

from sqlalchemy.dialects import postgresql

from notifications.repository import NotificationsRepository

UNSENT = "notifications.sent_at IS NULL AND notifications.failed_at IS NULL"


def sent_query(call):
    return str(call.args[0].compile(dialect=postgresql.dialect()))


def test_retries_look_only_at_rows_neither_sent_nor_failed_skipping_locked_ones():
    session = MagicMock()
    NotificationsRepository(session).unsent(50)
    query = sent_query(session.scalars.call_args)
    assert UNSENT in query
    assert "ORDER BY notifications.attempts, notifications.id" in query
    assert query.endswith("FOR UPDATE SKIP LOCKED")


def test_a_recipient_is_kept_by_an_upsert_of_the_users_address():
    session = MagicMock()
    NotificationsRepository(session).keep_recipient(7, "b@example.com", "B")
    upsert = session.execute.call_args.args[0]
    assert upsert.compile().params == {"user_id": 7, "email": "b@example.com", "name": "B"}
