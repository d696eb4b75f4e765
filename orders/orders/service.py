from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eventlet.greenpool import GreenPool

from chassis import base
from chassis.contracts.cart import (
    Cart,
    CartAddition,
    CartCheckout,
    CartLineChange,
    CartLineRef,
    CartOwner,
    CartReplacement,
)
from chassis.contracts.events import ORDER_CANCELLED, ORDER_CONFIRMED, SOURCES, parse_event
from chassis.contracts.orders import NewOrder, Order, OrderPage, OrderRef, UserPage
from chassis.contracts.sales import SalesQuery, SalesRow
from chassis.inbox import Inbox, event_handler
from chassis.outbox import Outbox
from chassis.rpc import RpcProxy, call_within, rpc
from chassis.schemas import dump, load
from chassis.settings import Settings
from chassis.store import Store, Transactions
from chassis.timers import timer
from orders import cart, domain
from orders.exceptions import (
    CartEmpty,
    CartFull,
    CartItemNotFound,
    IdempotencyKeyReused,
    InvalidInput,
    OrderNotCancellable,
    OrderNotFound,
    UnknownProduct,
)
from orders.models import Base
from orders.repository import OrdersRepository
from orders.saga import Saga
from orders.settings import OrdersSettings

_log = logging.getLogger(__name__)


class OrdersService(base.ServiceBase):
    """Orders, the saga that places them, and the sales read model."""

    name = "orders"

    settings = Settings(OrdersSettings)
    store: Transactions[OrdersRepository] = Store(Base, OrdersRepository, pool_size=20)
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

    # -- the cart: one per user, kept here; checked out into an order through the saga

    @rpc
    def get_cart(self, user_id: int) -> dict[str, Any]:
        """The cart, each line with today's name, price and stock (and its problem: the
        product is gone, or short)."""
        owner = load(CartOwner, {"user_id": user_id})
        with self.store.transaction() as orders:
            lines = orders.cart(owner["user_id"])
        return self._priced(lines)

    @rpc
    def add_to_cart(self, user_id: int, product_id: int, quantity: int = 1) -> dict[str, Any]:
        """Add ``quantity`` of a product: to its line when the cart has one, else as a new
        line. Refused: an unknown product, more than an order may hold of it, a full cart."""
        data = load(
            CartAddition, {"user_id": user_id, "product_id": product_id, "quantity": quantity}
        )
        self._known_product(data["product_id"])
        with self.store.transaction() as orders:
            orders.lock_cart(data["user_id"])
            held = dict(orders.cart(data["user_id"]))
            try:
                total = cart.added(held.get(data["product_id"]), data["quantity"], len(held))
            except cart.CartRefusal as refused:
                raise _refused(refused) from None
            orders.put_in_cart(data["user_id"], data["product_id"], total)
            lines = orders.cart(data["user_id"])
        return self._priced(lines)

    @rpc
    def set_cart_quantity(self, user_id: int, product_id: int, quantity: int) -> dict[str, Any]:
        data = load(
            CartLineChange, {"user_id": user_id, "product_id": product_id, "quantity": quantity}
        )
        with self.store.transaction() as orders:
            if not orders.change_in_cart(data["user_id"], data["product_id"], data["quantity"]):
                raise CartItemNotFound(
                    f"The cart holds no product {data['product_id']}",
                    {"product_id": ["Not in the cart."]},
                )
            lines = orders.cart(data["user_id"])
        return self._priced(lines)

    @rpc
    def remove_from_cart(self, user_id: int, product_id: int) -> dict[str, Any]:
        """Remove a product's line; removing one the cart does not hold changes nothing."""
        data = load(CartLineRef, {"user_id": user_id, "product_id": product_id})
        with self.store.transaction() as orders:
            orders.remove_from_cart(data["user_id"], data["product_id"])
            lines = orders.cart(data["user_id"])
        return self._priced(lines)

    @rpc
    def replace_cart(self, user_id: int, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Make the cart hold exactly ``items`` (a product named twice: quantities added)."""
        data = load(CartReplacement, {"user_id": user_id, "items": items})
        lines = domain.merge_items(data["items"])
        unknown = self._unknown_products([line["product_id"] for line in lines])
        if unknown:
            raise UnknownProduct(
                "The cart names products that do not exist",
                {"items": [f"No product {product_id}." for product_id in unknown]},
            )
        with self.store.transaction() as orders:
            orders.lock_cart(data["user_id"])
            orders.empty_cart(data["user_id"])
            for line in lines:
                orders.put_in_cart(data["user_id"], line["product_id"], line["quantity"])
            stored = orders.cart(data["user_id"])
        return self._priced(stored)

    @rpc
    def clear_cart(self, user_id: int) -> dict[str, Any]:
        owner = load(CartOwner, {"user_id": user_id})
        with self.store.transaction() as orders:
            orders.empty_cart(owner["user_id"])
        return self._priced([])

    @rpc
    def checkout_cart(
        self, user_id: int, payment_token: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Place an order of what the cart holds, and empty the cart in the same transaction;
        then drive the saga as ``create_order`` does. Refused before confirmation (no stock,
        a declined payment, a product gone), the order's lines go back into the cart.

        Idempotent per ``(user_id, idempotency_key)``: asked again, answers the order the key
        placed, whatever the cart holds by then.
        """
        checkout = {"payment_token": payment_token, "idempotency_key": idempotency_key}
        data = load(CartCheckout, {"user_id": user_id, **checkout})
        user_id, key = data["user_id"], data["idempotency_key"]
        with self.store.transaction() as orders:
            orders.lock_cart(user_id)
            placed = None if key is None else orders.placed_with(user_id, key)
            if placed is not None:
                return dump(Order, placed)
            lines = [{"product_id": pid, "quantity": qty} for pid, qty in orders.cart(user_id)]
            if not lines:
                raise CartEmpty("The cart is empty", {"items": ["Add something first."]})
            order = domain.Order.place(
                str(uuid.uuid4()),
                user_id,
                lines,
                data["payment_token"],
                created_at=datetime.now(UTC),
                request_id=self.request_id,
                from_cart=True,
            )
            fingerprint = domain.fingerprint(domain.merge_items(lines), data["payment_token"])
            if not orders.add(order, key, fingerprint, self._lease()):  # create_order took it
                return dump(Order, orders.by_key(user_id, key)[0])
            orders.empty_cart(user_id)
        budget = self.settings.saga_sync_budget
        return dump(Order, self._saga().run(order.id, budget, placing=True, order=order))

    def _known_product(self, product_id: int) -> None:
        if self._unknown_products([product_id]):
            raise UnknownProduct(f"No product {product_id}", {"product_id": ["No such product."]})

    def _unknown_products(self, product_ids: list[int]) -> list[int]:
        known = self._products(product_ids)
        return [product_id for product_id in product_ids if product_id not in known]

    def _priced(self, lines: list[tuple[int, int]]) -> dict[str, Any]:
        products = self._products([product_id for product_id, _ in lines])
        return dump(Cart, cart.priced(lines, products))

    def _products(self, product_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Those of ``product_ids`` that exist, by id, as products reads them today."""
        if not product_ids:
            return {}
        timeout = self.settings.saga_call_timeout
        found = call_within(self.products_rpc, "get_products", timeout, product_ids)
        return {product["id"]: product for product in found["items"]}

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


def _refused(refused: cart.CartRefusal) -> InvalidInput:
    error = CartFull if refused.field == "product_id" else InvalidInput
    return error(refused.message, {refused.field: [refused.message]})


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
