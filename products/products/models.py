from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        # The last line of defence against overselling: no statement can take stock below zero.
        CheckConstraint("stock >= 0", name="products_stock_not_negative"),
        CheckConstraint("price_cents >= 0", name="products_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price_cents: Mapped[int]
    stock: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Reservation(Base):
    """Stock held for one order. Its key makes ``reserve_stock`` idempotent per order, and a
    ``released`` row (written even when nothing was held) stops a late, retried reservation
    from taking stock for an order that was already given up."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("status IN ('reserved', 'released')", name="reservations_status_check"),
    )

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    items: Mapped[list[ReservationItem]] = relationship(
        order_by="ReservationItem.product_id", lazy="selectin"
    )


class ReservationItem(Base):
    __tablename__ = "reservation_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="reservation_items_quantity_positive"),)

    order_id: Mapped[str] = mapped_column(
        ForeignKey("reservations.order_id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    quantity: Mapped[int]
    price_cents: Mapped[int]
