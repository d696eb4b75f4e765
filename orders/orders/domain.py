"""The order saga's rules, free of I/O.

    pending/reserve ──reserve_stock──▶ pending/charge ──charge──▶ confirmed/done
          │                                 │
          └── refused ──┐                   └── declined / failed ──┐
                        ▼                                           ▼
                  pending/compensate ──refund, release_stock──▶ cancelled/done

A confirmed order cancelled by its owner goes confirmed/compensate → cancelled/done. Every
step is recorded before it is taken, and every call it makes is idempotent per order, so the
recovery loop can take any unfinished order from wherever it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

PENDING = "pending"
CONFIRMED = "confirmed"
CANCELLED = "cancelled"
STATUSES = (PENDING, CONFIRMED, CANCELLED)

RESERVE = "reserve"
CHARGE = "charge"
COMPENSATE = "compensate"
DONE = "done"
STEPS = (RESERVE, CHARGE, COMPENSATE, DONE)

# Why an order ended cancelled.
OUT_OF_STOCK = "out_of_stock"
UNKNOWN_PRODUCT = "unknown_product"
PAYMENT_DECLINED = "payment_declined"
PAYMENT_FAILED = "payment_failed"
USER_CANCELLED = "user_cancelled"
EXPIRED = "expired"  # not confirmed before the deadline (a service stayed unreachable)
REJECTED = "rejected"  # another service refused the order's data as invalid: final, not "later"

# What payments.charge may answer, and the reason each refusal cancels the order with.
CHARGE_REFUSALS = {"declined": PAYMENT_DECLINED, "failed": PAYMENT_FAILED, "voided": EXPIRED}


def merge_items(items: Iterable[dict[str, Any]]) -> list[dict[str, int]]:
    """One line per product, quantities added up, in product order."""
    merged: dict[int, int] = {}
    for item in items:
        merged[item["product_id"]] = merged.get(item["product_id"], 0) + item["quantity"]
    return [{"product_id": pid, "quantity": merged[pid]} for pid in sorted(merged)]


def total_cents(items: Iterable[dict[str, Any]]) -> int:
    return sum(item["quantity"] * item["price_cents"] for item in items)


def fingerprint(items: list[dict[str, int]], payment_token: str) -> str:
    """What an idempotency key stands for: the same key must come with the same order."""
    canonical = json.dumps({"items": items, "payment_token": payment_token}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def retry_delay(attempts: int) -> float:
    """Seconds before the recovery loop tries an order again after a transient failure."""
    return float(min(2 ** max(attempts, 0), 30))
