"""payments and outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

from chassis.outbox import OUTBOX, outbox_columns

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider_ref", sa.String(64)),
        sa.Column("reason", sa.String(200)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('processing', 'approved', 'declined', 'failed', 'refunded', 'voided')",
            name="payments_status_check",
        ),
        sa.CheckConstraint("amount_cents >= 0", name="payments_amount_not_negative"),
    )
    op.create_table(OUTBOX, *outbox_columns())


def downgrade() -> None:
    op.drop_table(OUTBOX)
    op.drop_table("payments")
