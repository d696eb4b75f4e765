"""notifications remember when sending was given up on

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("failed_at", sa.DateTime(timezone=True)))
    _unsent_index("sent_at IS NULL AND failed_at IS NULL")


def downgrade() -> None:
    # The failed rows become unsent again: the retry loop takes them up once more.
    _unsent_index("sent_at IS NULL")
    op.drop_column("notifications", "failed_at")


def _unsent_index(where: str) -> None:
    """The retry loop's partial index, made again over the rows it looks for."""
    op.drop_index("notifications_unsent", table_name="notifications")
    op.create_index(
        "notifications_unsent", "notifications", ["id"], postgresql_where=sa.text(where)
    )
