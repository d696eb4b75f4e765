"""An in-memory stand-in for ``ProductsRepository``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from products.domain import RELEASED, RESERVED, Shortage
from products.models import Product, Reservation, ReservationItem


class InMemoryProducts:
    def __init__(self, *products: Product) -> None:
        self.session = object()
        self.rows = {product.id: product for product in products}
        self.reservations: dict[str, Reservation] = {}
        self.asked: list[list[int]] = []  # each get_many call's ids

    def add(self, product: Mapping[str, Any]) -> Product | None:
        if any(row.sku == product["sku"] for row in self.rows.values()):
            return None
        row = Product(id=max(self.rows, default=0) + 1, **{"description": "", **product})
        self.rows[row.id] = row
        return row

    def get(self, product_id: int) -> Product | None:
        return self.rows.get(product_id)

    def get_many(self, product_ids: Sequence[int]) -> list[Product]:
        self.asked.append(list(product_ids))
        return [self.rows[i] for i in product_ids if i in self.rows]

    def change(self, product_id: int, changes: Mapping[str, Any]) -> Product | None:
        row = self.rows.get(product_id)
        for name, value in changes.items() if row else ():
            setattr(row, name, value)
        return row

    def catalogue(self, offset: int, limit: int, words: Sequence[str] = ()) -> dict[str, Any]:
        def matches(row: Any) -> bool:
            return all(
                word.lower() in row.name.lower() or word.lower() in row.sku.lower()
                for word in words
            )

        rows = sorted((row for row in self.rows.values() if matches(row)), key=lambda row: row.id)
        return {
            "items": rows[offset : offset + limit],
            "total": len(rows),
            "offset": offset,
            "limit": limit,
        }

    def claim_reservation(self, order_id: str) -> bool:
        return self._claim(order_id, RESERVED)

    def reserve(
        self, order_id: str, lines: Iterable[tuple[int, int]]
    ) -> tuple[list[ReservationItem], list[Shortage]]:
        """All or nothing: with a shortage, the order is left as the real repository's is once
        the refusal has rolled its transaction back (no stock taken, no reservation)."""
        lines = list(lines)
        shortages = [
            Shortage(product_id, quantity, row.stock if row else None)
            for product_id, quantity in lines
            if (row := self.rows.get(product_id)) is None or row.stock < quantity
        ]
        if shortages:
            del self.reservations[order_id]
            return [], shortages
        else:
            for product_id, quantity in lines:
                row = self.rows[product_id]
                row.stock -= quantity
                self.reservations[order_id].items.append(
                    ReservationItem(
                        product_id=product_id, quantity=quantity, price_cents=row.price_cents
                    )
                )
        return list(self.reservations[order_id].items), shortages

    def release(self, order_id: str) -> list[int]:
        if self._claim(order_id, RELEASED):
            return []
        reservation = self.reservations[order_id]
        if reservation.status != RESERVED:
            return []
        for item in reservation.items:
            self.rows[item.product_id].stock += item.quantity
        reservation.status = RELEASED
        return [item.product_id for item in reservation.items]

    def reservation(self, order_id: str) -> Reservation:
        return self.reservations[order_id]

    def _claim(self, order_id: str, status: str) -> bool:
        if order_id in self.reservations:
            return False
        self.reservations[order_id] = Reservation(order_id=order_id, status=status, items=[])
        return True
