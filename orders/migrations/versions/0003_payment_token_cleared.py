"""orders keep the payment token only while the saga may still charge

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("orders", "payment_token", existing_type=sa.String(100), nullable=True)
    # Orders past their charge will never be charged again: their tokens go now.
    op.execute("UPDATE orders SET payment_token = NULL WHERE step IN ('compensate', 'done')")


def downgrade() -> None:
    op.execute("UPDATE orders SET payment_token = '' WHERE payment_token IS NULL")
    op.alter_column("orders", "payment_token", existing_type=sa.String(100), nullable=False)
