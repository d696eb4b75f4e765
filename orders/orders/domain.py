"""The order and its saga's rules, as plain Python: no I/O, no nameko, no SQLAlchemy.

    pending/reserve ──reserved──▶ pending/charge ──charge approved──▶ confirmed/done
          │                             │
          └── refused ──┐               └── declined / failed ──┐
                        ▼                                       ▼
                  pending/compensate ──compensated (refund, release)──▶ cancelled/done

A confirmed order cancelled by its owner goes confirmed/compensate → cancelled/done, and an
order not confirmed before its deadline is compensated as ``expired``. Each transition returns
the stage it moved from: whoever persists it does so only if the order still stands there, so
two drivers of one order (the request and the recovery loop, or two instances) never apply an
outcome twice. What a transition announces waits in ``events`` until it is recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from chassis.contracts.events import ORDER_CANCELLED, ORDER_CONFIRMED, ORDER_CREATED

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


class NotCancellable(Exception):
    """The order cannot be cancelled as it stands (``status`` says why)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class Undecided(Exception):
    """An answer the saga cannot act on yet: the step stays where it is, for a later try."""


class Stage(NamedTuple):
    """Where an order stands: what a transition came from, and guards its recording."""

    step: str
    status: str


@dataclass
class Line:
    product_id: int
    quantity: int
    price_cents: int | None = None  # the unit price, known once the stock is reserved


@dataclass
class Order:
    id: str
    user_id: int
    lines: list[Line]
    created_at: datetime
    step: str = RESERVE
    status: str = PENDING
    cancel_reason: str | None = None
    payment_token: str | None = None  # kept to charge again after a crash, dropped once used
    total_cents: int | None = None
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    request_id: str | None = None
    from_cart: bool = False  # checked out of its owner's cart: refused, its lines go back there
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list, compare=False)

    @classmethod
    def place(
        cls,
        order_id: str,
        user_id: int,
        lines: Iterable[Mapping[str, int]],
        payment_token: str,
        created_at: datetime,
        request_id: str | None = None,
        from_cart: bool = False,
    ) -> Order:
        return cls(
            id=order_id,
            user_id=user_id,
            lines=[Line(line["product_id"], line["quantity"]) for line in lines],
            created_at=created_at,
            payment_token=payment_token,
            request_id=request_id,
            from_cart=from_cart,
        )

    @property
    def items(self) -> list[Line]:
        """The lines, by the name they have on the wire."""
        return self.lines

    @property
    def done(self) -> bool:
        return self.step == DONE

    @property
    def gives_back_cart(self) -> bool:
        """Checked out of a cart and refused before it was ever confirmed: its lines go back
        into the cart (an order its owner cancelled after confirmation was bought; no)."""
        return self.from_cart and self.status == CANCELLED and self.confirmed_at is None

    def is_late(self, now: datetime, deadline: timedelta) -> bool:
        """Not confirmed in time: the saga gives it up (a service stayed unreachable)."""
        return self.step in (RESERVE, CHARGE) and now - self.created_at > deadline

    # -- transitions: each returns the stage it moved the order from

    def reserved(self, prices: Mapping[int, int]) -> Stage:
        """Products holds the stock, at these unit prices: charge next."""
        came_from = self._expect(RESERVE)
        for line in self.lines:
            line.price_cents = prices[line.product_id]
        self.total_cents = total_cents(vars(line) for line in self.lines)
        self.step = CHARGE
        self.events.append((ORDER_CREATED, self._event()))
        return came_from

    def refused(self, reason: str) -> Stage:
        """A step was refused for good (no stock, unknown product, invalid data, a declined
        or failed charge, the deadline passed): give back whatever was taken."""
        came_from = self._expect(RESERVE, CHARGE)
        self.step = COMPENSATE
        self.cancel_reason = reason
        self.payment_token = None  # no charge will be made from here on
        return came_from

    def charge_answered(self, status: str, now: datetime) -> Stage:
        """What payments said of the charge: approved confirms the order, a refusal cancels
        it; anything else is :class:`Undecided`."""
        if status in CHARGE_REFUSALS:
            return self.refused(CHARGE_REFUSALS[status])
        if status != "approved":
            raise Undecided(f"charge answered {status!r}")
        came_from = self._expect(CHARGE)
        self.step, self.status, self.confirmed_at = DONE, CONFIRMED, now
        self.payment_token = None
        self.events.append((ORDER_CONFIRMED, {"confirmed_at": now.isoformat(), **self._event()}))
        return came_from

    def expire(self) -> Stage:
        return self.refused(EXPIRED)

    def cancel(self) -> Stage:
        """Its owner cancels a confirmed order: refund it and give its stock back."""
        if (self.status, self.step) != (CONFIRMED, DONE):
            raise NotCancellable(self.status)
        self.step = COMPENSATE
        self.cancel_reason = USER_CANCELLED
        return Stage(DONE, CONFIRMED)

    def compensated(self, now: datetime) -> Stage:
        """The refund and the release are done: the order ends cancelled."""
        came_from = self._expect(COMPENSATE)
        self.step, self.status, self.cancelled_at = DONE, CANCELLED, now
        confirmed_at = self.confirmed_at.isoformat() if self.confirmed_at else None
        payload = {"reason": self.cancel_reason, "confirmed_at": confirmed_at, **self._event()}
        self.events.append((ORDER_CANCELLED, payload))
        return came_from

    def _expect(self, *steps: str) -> Stage:
        if self.step not in steps:
            raise ValueError(f"order {self.id} is at {self.step}, not {' or '.join(steps)}")
        return Stage(self.step, self.status)

    def _event(self) -> dict[str, Any]:
        return {
            "order_id": self.id,
            "user_id": self.user_id,
            "items": [vars(line).copy() for line in self.lines],
            "total_cents": self.total_cents or 0,
        }
