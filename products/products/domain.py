"""Stock rules, as plain Python."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def merge_items(items: Iterable[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """One ``(product_id, quantity)`` per product, sorted by id.

    The same product named twice in an order is one reservation of the summed quantity, and
    taking row locks in id order means two orders never wait on each other in a cycle.
    """
    totals: dict[int, int] = {}
    for item in items:
        totals[item["product_id"]] = totals.get(item["product_id"], 0) + item["quantity"]
    return sorted(totals.items())


def shortage(product_id: int, requested: int, available: int | None) -> tuple[str, list[str]]:
    """The per-field message for an item that cannot be reserved."""
    if available is None:
        return str(product_id), ["Unknown product."]
    return str(product_id), [f"Only {available} in stock, {requested} requested."]
