from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eventlet.greenpool import GreenPool

from chassis import base
from chassis.contracts.events import ORDER_CANCELLED, ORDER_CONFIRMED, SOURCES, parse_event
from chassis.contracts.orders import NewOrder, Order, OrderPage, OrderRef, UserPage
from chassis.contracts.sales import SalesQuery, SalesRow
from chassis.inbox import Inbox, event_handler
from chassis.outbox import Outbox
from chassis.rpc import RpcProxy, rpc
from chassis.schemas import dump, load
from chassis.settings import Settings
from chassis.store import Store, Transactions
from chassis.timers import timer
from orders import domain
from orders.exceptions import IdempotencyKeyReused, OrderNotCancellable, OrderNotFound
from orders.models import Base
from orders.repository import OrdersRepository
from orders.saga import Saga
from orders.settings import OrdersSettings

_log = logging.getLogger(__name__)


class OrdersService(base.ServiceBase):
    """Orders, the saga that places them, and the sales read model."""

    name = "orders"

    settings = Settings(OrdersSettings)
    store: Transactions[OrdersRepository] = Store(Base, OrdersRepository, pool_size=30)
    outbox = Outbox(Base)
    inbox = Inbox(Base)
    products_rpc = RpcProxy("products")
    payments_rpc = RpcProxy("payments")

    @rpc
    def create_order(
        self,
        user_id: int,
        items: list[dict[str, Any]],
        payment_token: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Place an order and drive its saga for up to ``SAGA_SYNC_BUDGET`` seconds.

        Answers the order as it then stands: ``confirmed`` or ``cancelled``, or ``pending``
        when a step has to wait (the recovery loop finishes it). Idempotent per
        ``(user_id, idempotency_key)``.
        """
        data = load(
            NewOrder,
            {
                "user_id": user_id,
                "items": items,
                "payment_token": payment_token,
                "idempotency_key": idempotency_key,
            },
        )
        lines = domain.merge_items(data["items"])
        fingerprint = domain.fingerprint(lines, data["payment_token"])
        order = domain.Order.place(
            str(uuid.uuid4()),
            data["user_id"],
            lines,
            data["payment_token"],
            created_at=datetime.now(UTC),
            request_id=self.request_id,
        )
        with self.store.transaction() as orders:
            if not orders.add(order, data["idempotency_key"], fingerprint, self._lease()):
                placed, placed_for = orders.by_key(data["user_id"], data["idempotency_key"])
                if placed_for != fingerprint:
                    raise IdempotencyKeyReused(
                        "This idempotency key was used for another order",
                        {"idempotency_key": ["Used before for a different order."]},
                    )
                return dump(Order, placed)
        budget = self.settings.saga_sync_budget
        return dump(Order, self._saga().run(order.id, budget, placing=True, order=order))

    @rpc
    def get_order(self, order_id: str, user_id: int | None = None) -> dict[str, Any]:
        ref = load(OrderRef, {"order_id": order_id, "user_id": user_id})
        with self.store.transaction() as orders:
            return dump(Order, _owned(orders.get(ref["order_id"]), ref))

    @rpc
    def list_orders(self, user_id: int, offset: int = 0, limit: int = 20) -> dict[str, Any]:
        page = load(UserPage, {"user_id": user_id, "offset": offset, "limit": limit})
        with self.store.transaction() as orders:
            return dump(OrderPage, orders.page_of(page["user_id"], page["offset"], page["limit"]))

    @rpc
    def cancel_order(self, order_id: str, user_id: int) -> dict[str, Any]:
        """Cancel a confirmed order: refund it and give its stock back, for up to
        ``SAGA_SYNC_BUDGET`` seconds; answers the order as it then stands (``cancelled``, or
        still ``confirmed`` while the compensation goes on, finished by the recovery loop).

        Asked again once it is cancelled, answers the cancelled order. Asked while another call
        is cancelling it, joins in: answers the cancelled order if that ends within the budget,
        else ``OrderNotCancellable`` (being cancelled) — never a half-cancelled order.
        """
        ref = load(OrderRef, {"order_id": order_id, "user_id": user_id})
        if ref["user_id"] is None:
            raise OrderNotFound("Give the user id of the order's owner", {"user_id": ["Required."]})
        with self.store.transaction() as orders:
            order = _owned(orders.get(ref["order_id"]), ref)
            joining = order.cancel_reason == domain.USER_CANCELLED
            if joining and order.done:
                return dump(Order, order)  # cancelled at the owner's request: a repeated call
            if not joining:
                try:
                    came_from = order.cancel()
                except domain.NotCancellable as refused:
                    raise _not_cancellable(order.id, refused.status) from None
                if not orders.advance(order, came_from):  # another call moved it first
                    now = orders.get(order.id)
                    raise _not_cancellable(order.id, now.status if now else domain.CANCELLED)
        result = self._saga().run(order.id, self.settings.saga_sync_budget)
        if joining and (result is None or not result.done):
            raise _not_cancellable(order.id, domain.CONFIRMED)  # the other call goes on
        return dump(Order, result)

    @rpc
    def sales_report(self, date_from: str, date_to: str) -> dict[str, Any]:
        query = load(SalesQuery, {"date_from": date_from, "date_to": date_to})
        with self.store.transaction() as orders:
            rows = orders.sales(query["date_from"], query["date_to"])
            return {"items": dump(SalesRow, rows, many=True)}

    @timer("SAGA_RECOVERY_INTERVAL", default=2.0)
    def recover_sagas(self) -> None:
        """Finish sagas left unfinished by a crash, a timeout or an unreachable service."""
        with self.store.transaction() as orders:
            claimed = orders.claim_unfinished(self._lease(), limit=50)
        if not claimed:
            return
        _log.info("recovering %d unfinished order(s)", len(claimed))
        saga = self._saga()
        pool = GreenPool(10)
        for order_id in claimed:
            pool.spawn_n(saga.run, order_id)
        pool.waitall()

    @event_handler(SOURCES[ORDER_CONFIRMED], ORDER_CONFIRMED)
    def project_order_confirmed(self, body: dict[str, Any]) -> None:
        event = parse_event(ORDER_CONFIRMED, body)
        with self.store.transaction() as orders:
            if self.inbox.first_delivery(orders.session, event):
                orders.count_confirmed(event)

    @event_handler(SOURCES[ORDER_CANCELLED], ORDER_CANCELLED)
    def project_order_cancelled(self, body: dict[str, Any]) -> None:
        event = parse_event(ORDER_CANCELLED, body)
        with self.store.transaction() as orders:
            if self.inbox.first_delivery(orders.session, event):
                orders.take_back_cancelled(event)

    def _saga(self) -> Saga:
        return Saga(
            self.store,
            self.outbox,
            self.products_rpc,
            self.payments_rpc,
            call_timeout=self.settings.saga_call_timeout,
            deadline=self.settings.saga_deadline,
        )

    def _lease(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.settings.saga_lease)


def _not_cancellable(order_id: str, status: str) -> OrderNotCancellable:
    """Why an order in ``status`` (as it stands now: another call may have moved it) cannot be
    cancelled; a confirmed one is being cancelled by another call."""
    state = {
        domain.PENDING: "is still being processed",
        domain.CANCELLED: "was already cancelled",
    }.get(status, "is already being cancelled")
    return OrderNotCancellable(f"Order {order_id} {state}", {"status": [f"Order {state}."]})


def _owned(order: domain.Order | None, ref: dict[str, Any]) -> domain.Order:
    if order is None or (ref["user_id"] is not None and order.user_id != ref["user_id"]):
        # Someone else's order is reported exactly like a missing one.
        raise OrderNotFound(f"No order {ref['order_id']}", {"order_id": ["Not found."]})
    return order
