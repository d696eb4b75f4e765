from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from chassis.inbox import processed_events_table
from chassis.outbox import outbox_table


class Base(DeclarativeBase):
    pass


class Order(Base):
    """An order and its saga: ``step`` is where the saga stands, ``lease_until`` when the
    recovery loop may take it over."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="orders_user_idempotency_key"),
        CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled')", name="orders_status_check"
        ),
        CheckConstraint(
            "step IN ('reserve', 'charge', 'compensate', 'done')", name="orders_step_check"
        ),
        Index("orders_user_created", "user_id", "created_at"),
        Index("orders_unfinished", "lease_until", postgresql_where=text("step <> 'done'")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int]
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # The request that placed it: the recovery loop logs its later steps under the same id.
    request_id: Mapped[str | None] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(16))
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    # Kept to charge again after a crash, and cleared once the order is past its charge
    # (confirmed, or being compensated); a provider token, never card data.
    payment_token: Mapped[str | None] = mapped_column(String(100))
    total_cents: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    lease_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Checked out of its owner's cart: refused before confirmation, its lines go back there.
    from_cart: Mapped[bool] = mapped_column(server_default=text("false"))
    items: Mapped[list[OrderItem]] = relationship(
        order_by="OrderItem.product_id", lazy="selectin", cascade="all, delete-orphan"
    )


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="order_items_quantity_positive"),)

    order_id: Mapped[str] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(primary_key=True)
    quantity: Mapped[int]
    price_cents: Mapped[int | None] = mapped_column(BigInteger)  # known once stock is reserved


class CartItem(Base):
    """A line of a customer's cart: one per user and product."""

    __tablename__ = "cart_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="cart_items_quantity_positive"),)

    user_id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(primary_key=True)
    quantity: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SalesDaily(Base):
    """The read model behind the sales report: units and revenue per product per day."""

    __tablename__ = "sales_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product_id: Mapped[int] = mapped_column(primary_key=True)
    units: Mapped[int] = mapped_column(BigInteger)
    revenue_cents: Mapped[int] = mapped_column(BigInteger)


class SalesApplied(Base):
    """Which orders the read model counts, so an order is added and taken out at most once
    whatever order its events arrive in, and a rebuild agrees with events still in flight."""

    __tablename__ = "sales_applied"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    counted: Mapped[bool]  # False once the order's cancellation took it back out


outbox = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)
