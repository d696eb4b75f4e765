"""The cart's rules, as plain Python: a line per product, its quantity within an order line's
bounds, at most ``MAX_CART_LINES`` products, and what the cart is worth today.

The cart keeps products and quantities only. Prices and stock belong to products and are read
when the cart is read, so a cart never shows yesterday's price; the order placed from it is
priced by the reservation, as any order is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chassis.contracts.cart import MAX_CART_LINES, SHORT, UNKNOWN_PRODUCT
from chassis.contracts.orders import MAX_QUANTITY


class CartRefusal(Exception):
    """A change the cart refuses: ``field`` names what was wrong, for the caller."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def added(current: int | None, quantity: int, lines: int) -> int:
    """The line's quantity once ``quantity`` more are added to it (``current`` is None when
    the cart has no such line yet, and holds ``lines`` lines)."""
    if current is None:
        if lines >= MAX_CART_LINES:
            raise CartRefusal(
                "product_id", f"The cart holds {MAX_CART_LINES} products already: remove one."
            )
        return quantity
    if current + quantity > MAX_QUANTITY:
        raise CartRefusal(
            "quantity", f"The cart would hold more than {MAX_QUANTITY} of this product."
        )
    return current + quantity


def priced(
    lines: Iterable[tuple[int, int]], products: Mapping[int, Mapping[str, Any]]
) -> dict[str, Any]:
    """The cart ``lines`` (``(product_id, quantity)``, in the order shown) with today's
    ``products`` (by id; a product missing there is gone from the catalogue)."""
    items = []
    total = units = 0
    for product_id, quantity in lines:
        product = products.get(product_id)
        units += quantity
        if product is None:
            items.append(_line(product_id, quantity, None, UNKNOWN_PRODUCT))
            continue
        problem = SHORT if product["stock"] < quantity else None
        item = _line(product_id, quantity, product, problem)
        if problem is None:
            total += item["line_total_cents"]
        items.append(item)
    return {
        "items": items,
        "units": units,
        "total_cents": total,
        "can_check_out": bool(items) and all(item["problem"] is None for item in items),
    }


def _line(
    product_id: int, quantity: int, product: Mapping[str, Any] | None, problem: str | None
) -> dict[str, Any]:
    price = None if product is None else product["price_cents"]
    return {
        "product_id": product_id,
        "quantity": quantity,
        "name": None if product is None else product["name"],
        "price_cents": price,
        "stock": None if product is None else product["stock"],
        "line_total_cents": None if price is None else price * quantity,
        "problem": problem,
    }
