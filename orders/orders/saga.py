"""The orchestrator of the order saga (see ``orders.domain`` for the states).

Each step is one idempotent call to another service followed by one transaction that records
its outcome and moves ``step`` on — guarded by ``WHERE step = <the step we took>``, so two
drivers of the same order (the request and the recovery loop, or two instances) never apply an
outcome twice. A call that cannot be answered now (timeout, service down) leaves the order
where it is, for the recovery loop to try again later.
"""

from __future__ import annotations

import copy
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from nameko.exceptions import RemoteError
from sqlalchemy import delete, update

from chassis.contracts.events import ORDER_CANCELLED, ORDER_CONFIRMED, ORDER_CREATED
from chassis.logs import bind_request_id, current_request_id, on_behalf_of, reset_request_id
from chassis.metrics import SAGA_OUTCOMES
from chassis.rpc import call_within
from orders import domain
from orders.exceptions import OrderRejected, UnknownProduct
from orders.models import Order, OrderItem

_log = logging.getLogger(__name__)


# A remote refusal of the call's arguments: asking again with the same ones cannot succeed.
INVALID_INPUT = "InvalidInput"


class Postponed(Exception):
    """The step could not be taken now; the order stays where it is."""


def remote_type(exc: BaseException) -> str:
    """The class name of a remote exception, however nameko rebuilt it."""
    if isinstance(exc, RemoteError):
        return str(exc.exc_type)
    path = getattr(exc, "path", None)  # rebuilt by a process that registered the path
    return path.rsplit(".", 1)[-1] if path else type(exc).__name__


class Saga:
    def __init__(
        self,
        db: Any,
        outbox: Any,
        products: Any,
        payments: Any,
        *,
        call_timeout: float,
        deadline: float,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.products = products
        self.payments = payments
        self.call_timeout = call_timeout
        self.deadline = deadline  # seconds after which an unconfirmed order is given up

    def run(
        self,
        order_id: str,
        budget: float | None = None,
        *,
        placing: bool = False,
        order: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
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
            token = bind_request_id(order["request_id"])
            try:
                _log.info("order %s: resuming at step %s", order_id, order["step"])
                return self._on_behalf_of(order["request_id"])._drive(
                    order_id, budget, placing, order
                )
            finally:
                reset_request_id(token)
        return self._drive(order_id, budget, placing, order)

    def _on_behalf_of(self, request_id: str | None) -> Saga:
        saga = copy.copy(self)
        saga.products = on_behalf_of(self.products, request_id)
        saga.payments = on_behalf_of(self.payments, request_id)
        return saga

    def _drive(
        self,
        order_id: str,
        budget: float | None,
        placing: bool,
        order: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        ends_at = None if budget is None else time.monotonic() + budget
        for _ in range(2 * len(domain.STEPS)):
            if order is None:
                order = self.load(order_id)
            if order is None or order["step"] == domain.DONE:
                return order
            timeout = self.call_timeout
            if ends_at is not None:
                timeout = min(timeout, ends_at - time.monotonic())
                if timeout <= 0.05:
                    return order
            step = order["step"]
            try:
                if self._is_late(order):
                    order = self._to_compensate(order, domain.EXPIRED)
                elif order["step"] == domain.RESERVE:
                    order = self._reserve(order, timeout, placing)
                elif order["step"] == domain.CHARGE:
                    order = self._charge(order, timeout)
                else:
                    order = self._compensate(order, timeout)
            except Postponed as exc:
                _log.warning("order %s: %s step postponed: %s", order_id, step, exc)
                self._postpone(order_id)
                return self.load(order_id)
        return order

    def load(self, order_id: str) -> dict[str, Any] | None:
        with self.db.get_session() as session:
            row = session.get(Order, order_id)
            return None if row is None else _snapshot(row)

    # -- steps: each returns the order as it left it, or None when another driver moved it

    def _reserve(
        self, order: dict[str, Any], timeout: float, placing: bool
    ) -> dict[str, Any] | None:
        items = [{"product_id": i["product_id"], "quantity": i["quantity"]} for i in order["items"]]
        try:
            reservation = self._call(self.products, "reserve_stock", timeout, order["id"], items)
        except _Refused as refused:
            kind = remote_type(refused.error)
            if kind == "ProductNotFound":
                if placing:
                    self._forget(order)
                    raise UnknownProduct(
                        "An item names a product that does not exist",
                        {"items": self._unknown_products(order, timeout)},
                    ) from None
                return self._to_compensate(order, domain.UNKNOWN_PRODUCT)
            if kind == "OutOfStock":
                return self._to_compensate(order, domain.OUT_OF_STOCK)
            if kind == INVALID_INPUT:  # the same items will be refused every time: final
                if placing:
                    self._forget(order)
                    raise OrderRejected(
                        "The order was refused as invalid",
                        {"items": [f"Refused by products: {refused.error}"]},
                    ) from None
                return self._to_compensate(order, domain.REJECTED)
            raise Postponed(f"reserve_stock: {refused.error}") from None
        if reservation["status"] != "reserved":  # released already: a compensation came first
            return self._to_compensate(order, order["cancel_reason"] or domain.EXPIRED)
        prices = {item["product_id"]: item["price_cents"] for item in reservation["items"]}
        priced = [{**item, "price_cents": prices[item["product_id"]]} for item in order["items"]]
        total = domain.total_cents(priced)
        with self.db.get_session() as session:
            if not _move(
                session, order["id"], domain.RESERVE, step=domain.CHARGE, total_cents=total
            ):
                return None
            for item in priced:
                session.execute(
                    update(OrderItem)
                    .where(
                        OrderItem.order_id == order["id"],
                        OrderItem.product_id == item["product_id"],
                    )
                    .values(price_cents=item["price_cents"])
                )
            order = {**order, "step": domain.CHARGE, "items": priced, "total_cents": total}
            self.outbox.add(session, ORDER_CREATED, **_event(order))
        return order

    def _charge(self, order: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        try:
            payment = self._call(
                self.payments,
                "charge",
                timeout,
                order["id"],
                order["total_cents"],
                order["payment_token"],
                user_id=order["user_id"],
            )
        except _Refused as refused:
            if remote_type(refused.error) == INVALID_INPUT:
                return self._to_compensate(order, domain.REJECTED)
            raise Postponed(f"charge: {refused.error}") from None
        if payment["status"] in domain.CHARGE_REFUSALS:
            return self._to_compensate(order, domain.CHARGE_REFUSALS[payment["status"]])
        if payment["status"] != "approved":
            raise Postponed(f"charge answered {payment['status']!r}")
        now = datetime.now(UTC)
        done = {"step": domain.DONE, "status": domain.CONFIRMED, "confirmed_at": now}
        with self.db.get_session() as session:
            if not _move(session, order["id"], domain.CHARGE, payment_token=None, **done):
                return None
            self.outbox.add(session, ORDER_CONFIRMED, confirmed_at=now.isoformat(), **_event(order))
        SAGA_OUTCOMES.labels(domain.CONFIRMED, "none").inc()
        return {**order, **done}

    def _compensate(self, order: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        # Both calls, always: each is idempotent and leaves a tombstone, so a charge or a
        # reservation still on its way (sent by an attempt that timed out) takes nothing.
        try:
            self._call(self.payments, "refund", timeout, order["id"])
            self._call(self.products, "release_stock", timeout, order["id"])
        except _Refused as refused:
            raise Postponed(f"compensation: {refused.error}") from None
        done = {"step": domain.DONE, "status": domain.CANCELLED, "cancelled_at": datetime.now(UTC)}
        with self.db.get_session() as session:
            if not _move(session, order["id"], domain.COMPENSATE, **done):
                return None
            confirmed_at = order["confirmed_at"]
            self.outbox.add(
                session,
                ORDER_CANCELLED,
                reason=order["cancel_reason"],
                confirmed_at=confirmed_at.isoformat() if confirmed_at else None,
                **_event(order),
            )
        SAGA_OUTCOMES.labels(domain.CANCELLED, order["cancel_reason"]).inc()
        return {**order, **done}

    def _unknown_products(
        self, order: dict[str, Any], timeout: float
    ) -> dict[str, list[str]] | list[str]:
        """Which of the order's products do not exist, keyed by product id (as ``OutOfStock``
        names its items); a single general message when products cannot tell now."""
        wanted = [item["product_id"] for item in order["items"]]
        try:
            found = self._call(self.products, "get_products", timeout, wanted)
        except _Refused:
            return ["An item names an unknown product."]
        known = {product["id"] for product in found["items"]}
        return {str(pid): ["Unknown product."] for pid in wanted if pid not in known}

    # -- transitions ---------------------------------------------------------------------

    def _to_compensate(self, order: dict[str, Any], reason: str) -> dict[str, Any] | None:
        with self.db.get_session() as session:
            # No charge will be made from here on: the payment token has served.
            if not _move(
                session,
                order["id"],
                order["step"],
                step=domain.COMPENSATE,
                cancel_reason=reason,
                payment_token=None,
            ):
                return None
        return {**order, "step": domain.COMPENSATE, "cancel_reason": reason}

    def _is_late(self, order: dict[str, Any]) -> bool:
        late = datetime.now(UTC) - order["created_at"] > timedelta(seconds=self.deadline)
        return late and order["step"] in (domain.RESERVE, domain.CHARGE)

    def _forget(self, order: dict[str, Any]) -> None:
        """Remove an order nothing was done for yet (its reservation was refused)."""
        with self.db.get_session() as session:
            session.execute(
                delete(Order).where(Order.id == order["id"], Order.step == domain.RESERVE)
            )

    def _postpone(self, order_id: str) -> None:
        with self.db.get_session() as session:
            row = session.get(Order, order_id)
            if row is not None and row.step != domain.DONE:
                row.attempts += 1
                delay = domain.retry_delay(row.attempts)
                row.lease_until = datetime.now(UTC) + timedelta(seconds=delay)

    def _call(self, proxy: Any, method: str, timeout: float, *args: Any, **kwargs: Any) -> Any:
        try:
            return call_within(proxy, method, timeout, *args, **kwargs)
        except Exception as exc:  # a timeout, a broker error, or the other side's answer
            raise _Refused(exc) from exc


class _Refused(Exception):
    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _move(session: Any, order_id: str, from_step: str, **values: Any) -> bool:
    """Record a transition if the order still stands at ``from_step``; False otherwise."""
    moved = session.execute(
        update(Order)
        .where(Order.id == order_id, Order.step == from_step)
        .values(**values)
        .returning(Order.id)
    ).first()
    return moved is not None


def _items(order: Order) -> list[dict[str, Any]]:
    return [
        {"product_id": i.product_id, "quantity": i.quantity, "price_cents": i.price_cents}
        for i in order.items
    ]


def _snapshot(order: Order) -> dict[str, Any]:
    """The order as a plain dict: what the saga carries from one step to the next."""
    return {
        "id": order.id,
        "user_id": order.user_id,
        "step": order.step,
        "status": order.status,
        "cancel_reason": order.cancel_reason,
        "payment_token": order.payment_token,
        "total_cents": order.total_cents,
        "created_at": order.created_at,
        "confirmed_at": order.confirmed_at,
        "request_id": order.request_id,
        "items": _items(order),
    }


def _event(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order["id"],
        "user_id": order["user_id"],
        "items": order["items"],
        "total_cents": order["total_cents"] or 0,
    }
