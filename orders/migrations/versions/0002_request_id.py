"""orders remember the request id that placed them

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("request_id", sa.String(128)))


def downgrade() -> None:
    op.drop_column("orders", "request_id")
