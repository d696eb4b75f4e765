from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eventlet.greenpool import GreenPool
from nameko.dependency_providers import Config
from nameko_sqlalchemy import Database
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from chassis import health
from chassis.config import setting
from chassis.contracts.events import ORDER_CANCELLED, ORDER_CONFIRMED, SOURCES, parse_event
from chassis.contracts.sales import SalesRow
from chassis.inbox import Inbox, event_handler
from chassis.logs import RequestContext
from chassis.metrics import Metrics
from chassis.ops import OpsServer
from chassis.outbox import Outbox
from chassis.rpc import RpcProxy, rpc
from chassis.schemas import dump, load
from chassis.shutdown import GracefulShutdown
from chassis.timers import timer
from chassis.tracing import Tracing
from orders import domain, sales, schemas
from orders.exceptions import IdempotencyKeyReused, OrderNotCancellable, OrderNotFound
from orders.models import Base, Order, OrderItem
from orders.saga import Saga

_log = logging.getLogger(__name__)


class OrdersService(health.PingMixin):
    """Orders, the saga that places them, and the sales read model."""

    name = "orders"

    request_id = RequestContext()
    shutdown = GracefulShutdown()
    metrics = Metrics()
    tracing = Tracing()
    ops = OpsServer()

    db = Database(Base, engine_options={"pool_pre_ping": True, "pool_size": 20})
    outbox = Outbox(Base)
    inbox = Inbox(Base)
    config = Config()
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
            schemas.NewOrder,
            {
                "user_id": user_id,
                "items": items,
                "payment_token": payment_token,
                "idempotency_key": idempotency_key,
            },
        )
        lines = domain.merge_items(data["items"])
        fingerprint = domain.fingerprint(lines, data["payment_token"])
        order_id = str(uuid.uuid4())
        with self.db.get_session() as session:
            placed = _insert_order(
                session, order_id, data, lines, fingerprint, self._lease(), self.request_id
            )
            if isinstance(placed, Order):  # the key was used before
                if placed.fingerprint != fingerprint:
                    raise IdempotencyKeyReused(
                        "This idempotency key was used for another order",
                        {"idempotency_key": ["Used before for a different order."]},
                    )
                return _dump(placed)
        budget = setting(self.config, "SAGA_SYNC_BUDGET", 3.0)
        return _dump(self._saga().run(order_id, budget, placing=True, order=placed))

    @rpc
    def get_order(self, order_id: str, user_id: int | None = None) -> dict[str, Any]:
        ref = load(schemas.OrderRef, {"order_id": order_id, "user_id": user_id})
        with self.db.get_session() as session:
            return _dump(_owned(session, ref))

    @rpc
    def list_orders(self, user_id: int, offset: int = 0, limit: int = 20) -> dict[str, Any]:
        page = load(schemas.UserPage, {"user_id": user_id, "offset": offset, "limit": limit})
        mine = Order.user_id == page["user_id"]
        with self.db.get_session() as session:
            total = session.scalar(select(func.count()).select_from(Order).where(mine))
            rows = session.scalars(
                select(Order)
                .where(mine)
                .order_by(Order.created_at.desc(), Order.id)
                .offset(page["offset"])
                .limit(page["limit"])
            )
            items = [_dump(row) for row in rows]
        return {"items": items, "total": total, "offset": page["offset"], "limit": page["limit"]}

    @rpc
    def cancel_order(self, order_id: str, user_id: int) -> dict[str, Any]:
        """Cancel a confirmed order: refund it and give its stock back, for up to
        ``SAGA_SYNC_BUDGET`` seconds; answers the order as it then stands (``cancelled``, or
        still ``confirmed`` while the compensation goes on, finished by the recovery loop).

        Asked again once it is cancelled, answers the cancelled order. Asked while another call
        is cancelling it, joins in: answers the cancelled order if that ends within the budget,
        else ``OrderNotCancellable`` (being cancelled) — never a half-cancelled order.
        """
        ref = load(schemas.OrderRef, {"order_id": order_id, "user_id": user_id})
        if ref["user_id"] is None:
            raise OrderNotFound("Give the user id of the order's owner", {"user_id": ["Required."]})
        with self.db.get_session() as session:
            order = _owned(session, ref)
            if order.cancel_reason == domain.USER_CANCELLED and order.step == domain.DONE:
                return _dump(order)  # cancelled at the owner's request: a repeated call
            joining = order.cancel_reason == domain.USER_CANCELLED
            if not joining and not _start_cancelling(session, order):
                session.refresh(order)  # as the call that moved it first left it
                raise _not_cancellable(order.id, order.status)
        budget = setting(self.config, "SAGA_SYNC_BUDGET", 3.0)
        result = self._saga().run(order_id, budget)
        if joining and (result is None or result["step"] != domain.DONE):
            raise _not_cancellable(order_id, domain.CONFIRMED)  # the other call goes on
        return _dump(result)

    @rpc
    def sales_report(self, date_from: str, date_to: str) -> dict[str, Any]:
        query = load(schemas.SalesQuery, {"date_from": date_from, "date_to": date_to})
        with self.db.get_session() as session:
            rows = sales.report(session, query["date_from"], query["date_to"])
            return {"items": dump(SalesRow, rows, many=True)}

    @timer("SAGA_RECOVERY_INTERVAL", default=2.0)
    def recover_sagas(self) -> None:
        """Finish sagas left unfinished by a crash, a timeout or an unreachable service."""
        with self.db.get_session() as session:
            claimed = _claim_unfinished(session, self._lease(), limit=50)
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
        with self.db.get_session() as session:
            if self.inbox.first_delivery(session, event):
                sales.count_confirmed(session, event)

    @event_handler(SOURCES[ORDER_CANCELLED], ORDER_CANCELLED)
    def project_order_cancelled(self, body: dict[str, Any]) -> None:
        event = parse_event(ORDER_CANCELLED, body)
        with self.db.get_session() as session:
            if self.inbox.first_delivery(session, event):
                sales.take_back_cancelled(session, event)

    def _saga(self) -> Saga:
        return Saga(
            self.db,
            self.outbox,
            self.products_rpc,
            self.payments_rpc,
            call_timeout=setting(self.config, "SAGA_CALL_TIMEOUT", 5.0),
            deadline=setting(self.config, "SAGA_DEADLINE", 120.0),
        )

    def _lease(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=setting(self.config, "SAGA_LEASE", 15.0))


def _insert_order(
    session: Session,
    order_id: str,
    data: dict[str, Any],
    lines: list[dict[str, int]],
    fingerprint: str,
    lease_until: datetime,
    request_id: str | None,
) -> Order | dict[str, Any]:
    """Insert the order at its first step and return it as the saga carries it; with a key
    used before, return that order's row instead."""
    created_at = session.scalar(
        insert(Order)
        .values(
            id=order_id,
            user_id=data["user_id"],
            idempotency_key=data["idempotency_key"],
            fingerprint=fingerprint,
            status=domain.PENDING,
            step=domain.RESERVE,
            payment_token=data["payment_token"],
            lease_until=lease_until,
            request_id=request_id,
        )
        .on_conflict_do_nothing(constraint="orders_user_idempotency_key")
        .returning(Order.created_at)
    )
    if created_at is None:
        return session.scalar(
            select(Order).where(
                Order.user_id == data["user_id"],
                Order.idempotency_key == data["idempotency_key"],
            )
        )
    session.execute(insert(OrderItem), [{"order_id": order_id, **line} for line in lines])
    return {
        "id": order_id,
        "user_id": data["user_id"],
        "step": domain.RESERVE,
        "status": domain.PENDING,
        "cancel_reason": None,
        "payment_token": data["payment_token"],
        "total_cents": None,
        "created_at": created_at,
        "confirmed_at": None,
        "request_id": request_id,
        "items": [{**line, "price_cents": None} for line in lines],
    }


def _claim_unfinished(session: Session, lease_until: datetime, limit: int) -> list[str]:
    """Take over unfinished orders whose lease ran out, so no other driver takes them now."""
    stale = (
        select(Order.id)
        .where(Order.step != domain.DONE, Order.lease_until < func.now())
        .order_by(Order.lease_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return list(
        session.scalars(
            update(Order)
            .where(Order.id.in_(stale))
            .values(lease_until=lease_until)
            .returning(Order.id)
        )
    )


def _start_cancelling(session: Session, order: Order) -> bool:
    """Move a confirmed, settled order to its compensation; False if it is not one now. A
    concurrent cancel waits here on the row and then finds it moved (False)."""
    moved = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == domain.CONFIRMED, Order.step == domain.DONE)
        .values(step=domain.COMPENSATE, cancel_reason=domain.USER_CANCELLED)
        .returning(Order.id)
    ).first()
    return moved is not None


def _not_cancellable(order_id: str, status: str) -> OrderNotCancellable:
    """Why an order in ``status`` (as it stands now: another call may have moved it) cannot be
    cancelled; a confirmed one is being cancelled by another call."""
    state = {
        domain.PENDING: "is still being processed",
        domain.CANCELLED: "was already cancelled",
    }.get(status, "is already being cancelled")
    return OrderNotCancellable(f"Order {order_id} {state}", {"status": [f"Order {state}."]})


def _owned(session: Session, ref: dict[str, Any]) -> Order:
    order = session.get(Order, ref["order_id"])
    if order is None or (ref["user_id"] is not None and order.user_id != ref["user_id"]):
        # Someone else's order is reported exactly like a missing one.
        raise OrderNotFound(f"No order {ref['order_id']}", {"order_id": ["Not found."]})
    return order


def _dump(order: Order | dict[str, Any] | None) -> dict[str, Any]:
    return dump(schemas.Order, order)
