"""orders, order items, sales read model, outbox, processed events

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

from chassis.inbox import PROCESSED_EVENTS, processed_events_columns
from chassis.outbox import OUTBOX, outbox_columns

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str, **kwargs) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kwargs)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("cancel_reason", sa.String(32)),
        sa.Column("payment_token", sa.String(100), nullable=False),
        sa.Column("total_cents", sa.BigInteger),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        _timestamp("lease_until", nullable=False),
        _timestamp("created_at", nullable=False, server_default=sa.func.now()),
        _timestamp("updated_at", nullable=False, server_default=sa.func.now()),
        _timestamp("confirmed_at"),
        _timestamp("cancelled_at"),
        sa.UniqueConstraint("user_id", "idempotency_key", name="orders_user_idempotency_key"),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled')", name="orders_status_check"
        ),
        sa.CheckConstraint(
            "step IN ('reserve', 'charge', 'compensate', 'done')", name="orders_step_check"
        ),
    )
    op.create_index("orders_user_created", "orders", ["user_id", "created_at"])
    op.create_index(
        "orders_unfinished",
        "orders",
        ["lease_until"],
        postgresql_where=sa.text("step <> 'done'"),
    )
    op.create_table(
        "order_items",
        sa.Column(
            "order_id",
            sa.String(36),
            sa.ForeignKey("orders.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("product_id", sa.Integer, primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("price_cents", sa.BigInteger),
        sa.CheckConstraint("quantity > 0", name="order_items_quantity_positive"),
    )
    op.create_table(
        "sales_daily",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("product_id", sa.Integer, primary_key=True),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("revenue_cents", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sales_applied",
        sa.Column("order_id", sa.String(36), primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("counted", sa.Boolean, nullable=False),
    )
    op.create_table(OUTBOX, *outbox_columns())
    op.create_table(PROCESSED_EVENTS, *processed_events_columns())


def downgrade() -> None:
    for table in (PROCESSED_EVENTS, OUTBOX, "sales_applied", "sales_daily", "order_items"):
        op.drop_table(table)
    op.drop_table("orders")
