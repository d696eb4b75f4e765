"""The products service's SQL: the catalogue, its stock, and the stock each order holds."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert

from chassis.store import Repository
from products.domain import RELEASED, RESERVED, Shortage
from products.models import Product, Reservation, ReservationItem

_LIKE_SPECIAL = re.compile(r"[\\%_]")  # taken literally in a search word


class ProductsRepository(Repository):
    def add(self, product: Mapping[str, Any]) -> Product | None:
        """A new product; None when its sku is taken already."""
        return self.session.scalar(
            insert(Product)
            .values(**product)
            .on_conflict_do_nothing(index_elements=[Product.sku])
            .returning(Product)
        )

    def get(self, product_id: int) -> Product | None:
        return self.session.get(Product, product_id)

    def get_many(self, product_ids: Sequence[int]) -> list[Product]:
        """Those of ``product_ids`` that exist, in one query, in no particular order."""
        return list(self.session.scalars(select(Product).where(Product.id.in_(product_ids))))

    def change(self, product_id: int, changes: Mapping[str, Any]) -> Product | None:
        """The product with ``changes`` applied; None when there is no such product."""
        row = self.session.get(Product, product_id, with_for_update=True)
        if row is not None:
            for name, value in changes.items():
                setattr(row, name, value)
            self.session.flush()
        return row

    def catalogue(self, offset: int, limit: int, words: Sequence[str] = ()) -> dict[str, Any]:
        """A page of the products by id, of those whose name or SKU holds every one of
        ``words`` (case ignored; the trigram indexes of both columns serve it)."""
        query = select(Product)
        for word in words:
            pattern = "%" + _LIKE_SPECIAL.sub(r"\\\g<0>", word) + "%"
            query = query.where(
                or_(
                    Product.name.ilike(pattern, escape="\\"),
                    Product.sku.ilike(pattern, escape="\\"),
                )
            )
        return self.page(query.order_by(Product.id), offset, limit)

    def claim_reservation(self, order_id: str) -> bool:
        """Open the order's reservation; False when it has one already, held or released."""
        return self._claim(order_id, RESERVED)

    def reserve(
        self, order_id: str, lines: Iterable[tuple[int, int]]
    ) -> tuple[list[ReservationItem], list[Shortage]]:
        """Take each ``(product_id, quantity)`` off stock and hold it for the order at today's
        price; returns what is held, and the lines stock could not cover (nothing was taken
        for those)."""
        held: list[ReservationItem] = []
        shortages = []
        for product_id, quantity in lines:
            # A conditional decrement: the row lock serialises concurrent orders, and the
            # condition is re-checked on the locked row, so stock never goes below zero.
            price = self.session.scalar(
                update(Product)
                .where(Product.id == product_id, Product.stock >= quantity)
                .values(stock=Product.stock - quantity)
                .returning(Product.price_cents)
            )
            if price is None:
                available = self.session.scalar(
                    select(Product.stock).where(Product.id == product_id)
                )
                shortages.append(Shortage(product_id, quantity, available))
                continue
            held.append(
                ReservationItem(
                    order_id=order_id, product_id=product_id, quantity=quantity, price_cents=price
                )
            )
        self.session.add_all(held)
        self.session.flush()
        return held, shortages

    def release(self, order_id: str) -> list[int]:
        """Give back what the order holds, and mark its reservation released (recording one when
        it had none, so that a reservation arriving later is refused); the ids of the products
        whose stock went up."""
        if self._claim(order_id, RELEASED):
            return []
        reservation = self.session.get_one(Reservation, order_id, with_for_update=True)
        if reservation.status != RESERVED:
            return []
        returned = []
        for item in sorted(reservation.items, key=lambda item: item.product_id):
            self.session.execute(
                update(Product)
                .where(Product.id == item.product_id)
                .values(stock=Product.stock + item.quantity)
            )
            returned.append(item.product_id)
        reservation.status = RELEASED
        self.session.flush()
        return returned

    def reservation(self, order_id: str) -> Reservation:
        """The order's reservation, which a claim has made sure exists."""
        return self.session.get_one(Reservation, order_id)

    def _claim(self, order_id: str, status: str) -> bool:
        """Insert the reservation row for ``order_id``; False when one exists already.

        A concurrent call for the same order waits here until the first one commits or rolls
        back.
        """
        inserted = self.session.scalar(
            insert(Reservation)
            .values(order_id=order_id, status=status)
            .on_conflict_do_nothing(index_elements=[Reservation.order_id])
            .returning(Reservation.order_id)
        )
        return inserted is not None
