from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, Text, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chassis.inbox import processed_events_table


class Base(DeclarativeBase):
    pass


class Recipient(Base):
    """Where to write to a user: a local copy kept from ``user_registered``, so that sending
    needs no call to the users service."""

    __tablename__ = "recipients"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(100))


class Notification(Base):
    """One message to one user, kept whether or not the mail went out: the row is the record.

    Unsent while ``sent_at`` and ``failed_at`` are both empty; ``attempts`` and ``last_error``
    tell how sending went so far.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("notifications_user_created", "user_id", "created_at", "id"),
        # The retry loop only ever looks for rows neither sent nor given up on.
        Index(
            "notifications_unsent",
            "id",
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set when sending is given up on (refused for good, or out of attempts): never retried.
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


processed_events = processed_events_table(Base.metadata)
