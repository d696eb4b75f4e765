"""products, reservations

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("stock", sa.Integer, nullable=False),
        *_timestamps(),
        sa.CheckConstraint("stock >= 0", name="products_stock_not_negative"),
        sa.CheckConstraint("price_cents >= 0", name="products_price_not_negative"),
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("status IN ('reserved', 'released')", name="reservations_status_check"),
    )
    op.create_table(
        "reservation_items",
        sa.Column(
            "order_id",
            sa.String(64),
            sa.ForeignKey("reservations.order_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="reservation_items_quantity_positive"),
    )
    op.create_index("reservation_items_product_id", "reservation_items", ["product_id"])


def downgrade() -> None:
    op.drop_table("reservation_items")
    op.drop_table("reservations")
    op.drop_table("products")
