"""Bounds of an order, shared by whoever checks one: the gateway, orders and products."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import ValidationError

MAX_ORDER_ITEMS = 100
# At most this many units of one product in one order, however many lines ask for it.
MAX_QUANTITY = 10_000


def check_merged_quantities(items: Iterable[Mapping[str, Any]]) -> None:
    """A ``ValidationError`` naming (under ``items``, by index, as marshmallow keys the errors
    of a list) each line at which a product's quantities, added up over the order, pass
    ``MAX_QUANTITY``; for an order schema's ``validates_schema``."""
    totals: dict[Any, int] = {}
    errors: dict[int, dict[str, list[str]]] = {}
    for index, item in enumerate(items):
        product_id = item.get("product_id")
        before = totals.get(product_id, 0)
        totals[product_id] = before + int(item.get("quantity") or 0)
        if before <= MAX_QUANTITY < totals[product_id]:
            errors[index] = {
                "quantity": [
                    f"The lines of product {product_id} add up to more than {MAX_QUANTITY}."
                ]
            }
    if errors:
        raise ValidationError({"items": errors})
