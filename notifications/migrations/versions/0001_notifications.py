"""recipients, notifications, processed_events

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

from chassis.inbox import PROCESSED_EVENTS, processed_events_columns

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
    )
    op.create_index(
        "notifications_user_created", "notifications", ["user_id", "created_at", "id"]
    )
    op.create_index(
        "notifications_unsent",
        "notifications",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(PROCESSED_EVENTS, *processed_events_columns())


def downgrade() -> None:
    op.drop_table(PROCESSED_EVENTS)
    op.drop_table("notifications")
    op.drop_table("recipients")
