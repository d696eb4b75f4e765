"""The driver of the order saga: it asks other services, and records what the order model
(``orders.domain``) decided.

Each step is one idempotent call to another service followed by one transaction that records
the outcome — only if the order still stands where the step found it, so two drivers of the
same order (the request and the recovery loop, or two instances) never apply an outcome twice.
A call that cannot be answered now (timeout, service down) leaves the order where it is, for
the recovery loop to try again later.

A reservation and the charge that follows it are recorded together, in one transaction: the
reservation alone is written only when the charge cannot be answered now. Both calls are
idempotent per order, so a driver that crashed in between (the order still reads ``reserve``)
makes them again and gets the same reservation and the same charge back.
"""

from __future__ import annotations

import copy
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter

from chassis.contracts.errors import OutOfStock, ProductNotFound
from chassis.logs import bind_request_id, current_request_id, on_behalf_of, reset_request_id
from chassis.rpc import call_within
from chassis.store import Transactions
from orders import domain
from orders.exceptions import InvalidInput, OrderRejected, UnknownProduct
from orders.repository import OrdersRepository

_log = logging.getLogger(__name__)

SAGA_OUTCOMES = Counter(
    "shop_saga_outcomes_total",
    "Orders that reached the end of their saga, by status and reason",
    ["status", "reason"],
)


class Postponed(Exception):
    """The step could not be taken now; the order stays where it is."""


class Saga:
    def __init__(
        self,
        store: Transactions[OrdersRepository],
        outbox: Any,
        products: Any,
        payments: Any,
        *,
        call_timeout: float,
        deadline: float,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.products = products
        self.payments = payments
        self.call_timeout = call_timeout
        self.deadline = timedelta(seconds=deadline)  # an unconfirmed order is given up after

    def run(
        self,
        order_id: str,
        budget: float | None = None,
        *,
        placing: bool = False,
        order: domain.Order | None = None,
    ) -> domain.Order | None:
        """Drive the order until it is done, or a step must wait, or ``budget`` runs out;
        returns the order as it then stands (None when it does not exist).

        ``order`` is the order as its caller just wrote it, which spares reading it back: each
        step hands the next one the order as it left it, and the database is read again only
        when a transition finds that another driver moved the order first. ``placing`` is set
        while the client who placed the order waits for the answer: an unknown product then
        removes the order and raises ``UnknownProduct`` instead of cancelling it.
        """
        if order is None:
            order = self.load(order_id)
        if order is not None and current_request_id() is None:
            # Driven by the recovery loop: log, call and announce under the id of the request
            # that placed it.
            token = bind_request_id(order.request_id)
            try:
                _log.info("order %s: resuming at step %s", order_id, order.step)
                return self._on_behalf_of(order.request_id)._drive(order_id, budget, placing, order)
            finally:
                reset_request_id(token)
        return self._drive(order_id, budget, placing, order)

    def load(self, order_id: str) -> domain.Order | None:
        with self.store.transaction() as orders:
            return orders.get(order_id)

    def _on_behalf_of(self, request_id: str | None) -> Saga:
        saga = copy.copy(self)
        saga.products = on_behalf_of(self.products, request_id)
        saga.payments = on_behalf_of(self.payments, request_id)
        return saga

    def _drive(
        self, order_id: str, budget: float | None, placing: bool, order: domain.Order | None
    ) -> domain.Order | None:
        ends_at = None if budget is None else time.monotonic() + budget
        for _ in range(2 * len(domain.STEPS)):
            if order is None:
                order = self.load(order_id)
            if order is None or order.done:
                return order
            timeout = self._time_left(ends_at)
            if timeout is None:
                return order
            step = order.step
            try:
                if order.is_late(datetime.now(UTC), self.deadline):
                    order = self._record(order, order.expire())
                elif step == domain.RESERVE:
                    order = self._reserve(order, timeout, placing, ends_at)
                elif step == domain.CHARGE:
                    order = self._record(order, self._charged(order, timeout))
                else:
                    order = self._compensate(order, timeout)
            except Postponed as exc:
                _log.warning("order %s: %s step postponed: %s", order_id, step, exc)
                with self.store.transaction() as orders:
                    orders.postpone(order_id, datetime.now(UTC))
                    return orders.get(order_id)
        return order

    def _time_left(self, ends_at: float | None) -> float | None:
        """How long the next call may wait; None when the budget is as good as spent."""
        if ends_at is None:
            return self.call_timeout
        left = min(self.call_timeout, ends_at - time.monotonic())
        return None if left <= 0.05 else left

    # -- steps: each returns the order as it left it, or None when another driver moved it

    def _reserve(
        self, order: domain.Order, timeout: float, placing: bool, ends_at: float | None
    ) -> domain.Order | None:
        lines = [{"product_id": line.product_id, "quantity": line.quantity} for line in order.lines]
        try:
            reservation = call_within(self.products, "reserve_stock", timeout, order.id, lines)
        except ProductNotFound as unknown:
            if placing:
                self._forget(order)
                raise UnknownProduct(
                    "An item names a product that does not exist",
                    {"items": unknown.fields.get("items", ["An item names an unknown product."])},
                ) from None
            return self._record(order, order.refused(domain.UNKNOWN_PRODUCT))
        except OutOfStock:
            return self._record(order, order.refused(domain.OUT_OF_STOCK))
        except InvalidInput as invalid:  # the same items will be refused every time: final
            if placing:
                self._forget(order)
                raise OrderRejected(
                    "The order was refused as invalid",
                    {"items": [f"Refused by products: {invalid}"]},
                ) from None
            return self._record(order, order.refused(domain.REJECTED))
        except Exception as exc:  # a timeout, a broker error: not an answer
            raise Postponed(f"reserve_stock: {exc!r}") from None
        if reservation["status"] != "reserved":  # released already: a compensation came first
            return self._record(order, order.refused(order.cancel_reason or domain.EXPIRED))
        prices = {item["product_id"]: item["price_cents"] for item in reservation["items"]}
        came_from = order.reserved(prices)
        timeout_left = self._time_left(ends_at)
        if timeout_left is not None:
            try:
                self._charged(order, timeout_left)  # recorded with the reservation, below
            except Postponed:
                if self._record(order, came_from) is None:
                    return None
                raise
        return self._record(order, came_from)

    def _charged(self, order: domain.Order, timeout: float) -> domain.Stage:
        """Charge the order and move it on by the answer; returns the stage it came from."""
        try:
            payment = call_within(
                self.payments,
                "charge",
                timeout,
                order.id,
                order.total_cents,
                order.payment_token,
                user_id=order.user_id,
            )
        except InvalidInput:
            return order.refused(domain.REJECTED)
        except Exception as exc:
            raise Postponed(f"charge: {exc!r}") from None
        try:
            return order.charge_answered(payment["status"], datetime.now(UTC))
        except domain.Undecided as undecided:
            raise Postponed(str(undecided)) from None

    def _compensate(self, order: domain.Order, timeout: float) -> domain.Order | None:
        # Both calls, always: each is idempotent and leaves a tombstone, so a charge or a
        # reservation still on its way (sent by an attempt that timed out) takes nothing.
        try:
            call_within(self.payments, "refund", timeout, order.id)
            call_within(self.products, "release_stock", timeout, order.id)
        except Exception as exc:
            raise Postponed(f"compensation: {exc!r}") from None
        return self._record(order, order.compensated(datetime.now(UTC)))

    # -- persistence ---------------------------------------------------------------------

    def _record(self, order: domain.Order, came_from: domain.Stage) -> domain.Order | None:
        """Record the transition the order just made, and what it announced, in one
        transaction; None when another driver moved the order first."""
        with self.store.transaction() as orders:
            if not orders.advance(order, came_from):
                return None
            for event_type, payload in order.events:
                self.outbox.add(orders.session, event_type, **payload)
        order.events.clear()
        if order.done:
            SAGA_OUTCOMES.labels(order.status, order.cancel_reason or "none").inc()
        return order

    def _forget(self, order: domain.Order) -> None:
        with self.store.transaction() as orders:
            orders.forget(order)
