"""Stock rules, as plain Python."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from products.exceptions import OutOfStock, ProductNotFound

# The states of an order's reservation: its stock held, or given back (and never taken again).
RESERVED = "reserved"
RELEASED = "released"


@dataclass(frozen=True)
class Shortage:
    """A line of an order that stock cannot cover: ``available`` is what is left of the
    product, None when there is no such product."""

    product_id: int
    requested: int
    available: int | None


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


def refusal(shortages: Sequence[Shortage]) -> ProductNotFound | OutOfStock:
    """Why an order gets no stock, given its short lines (one or more): ``ProductNotFound`` when
    none of them names a product that exists, else ``OutOfStock``; either way
    ``fields["items"]`` has each short line's messages by product id."""
    items = dict(shortage(line.product_id, line.requested, line.available) for line in shortages)
    if all(line.available is None for line in shortages):
        return ProductNotFound("Unknown product", {"items": items})
    return OutOfStock("Not enough stock", {"items": items})


MAX_SEARCH_WORDS = 8


def search_words(q: str | None) -> list[str]:
    """The words of a catalogue search, each once, in the order given: a product matches when
    its name or SKU holds every one of them. Beyond ``MAX_SEARCH_WORDS`` words are ignored."""
    if not q:
        return []
    return list(dict.fromkeys(q.split()))[:MAX_SEARCH_WORDS]
