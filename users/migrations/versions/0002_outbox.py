"""outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op

from chassis.outbox import OUTBOX, outbox_columns

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(OUTBOX, *outbox_columns())


def downgrade() -> None:
    op.drop_table(OUTBOX)
