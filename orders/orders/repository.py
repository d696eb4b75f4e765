"""The orders service's SQL: orders and their lines in, ``domain.Order`` out, and the sales
read model (``orders.sales``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from chassis.contracts.orders import MAX_QUANTITY
from chassis.store import Repository
from orders import domain, sales
from orders.models import CartItem, Order, OrderItem, SalesDaily

# The lock space of ``pg_advisory_xact_lock(int, int)`` taken per user on a change to the cart.
CART_LOCK_CLASS = 7_413

# What a transition may change.
_TRANSITIONED = (
    "step",
    "status",
    "cancel_reason",
    "payment_token",
    "total_cents",
    "confirmed_at",
    "cancelled_at",
)


class OrdersRepository(Repository):
    def add(
        self, order: domain.Order, idempotency_key: str | None, fingerprint: str, lease: datetime
    ) -> bool:
        """Insert a new order at its first step; False (and nothing written) when the user's
        idempotency key was used before."""
        inserted = self.session.scalar(
            insert(Order)
            .values(
                id=order.id,
                user_id=order.user_id,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                status=order.status,
                step=order.step,
                payment_token=order.payment_token,
                lease_until=lease,
                request_id=order.request_id,
                created_at=order.created_at,
                from_cart=order.from_cart,
            )
            .on_conflict_do_nothing(constraint="orders_user_idempotency_key")
            .returning(Order.id)
        )
        if inserted is None:
            return False
        lines = [{"order_id": order.id, **vars(line)} for line in order.lines]
        self.session.execute(insert(OrderItem), lines)
        return True

    def placed_with(self, user_id: int, idempotency_key: str) -> domain.Order | None:
        """The order the user placed with this key, if any."""
        row = self.session.scalars(_keyed(user_id, idempotency_key)).first()
        return None if row is None else _order(row)

    def by_key(self, user_id: int, idempotency_key: str | None) -> tuple[domain.Order, str]:
        """The order placed with this key, and the fingerprint of what it was placed for."""
        row = self.session.scalars(_keyed(user_id, idempotency_key)).one()
        return _order(row), row.fingerprint

    def get(self, order_id: str) -> domain.Order | None:
        """The order as now committed (never a copy this session read earlier)."""
        row = self.session.get(Order, order_id, populate_existing=True)
        return None if row is None else _order(row)

    def page_of(self, user_id: int, offset: int, limit: int) -> dict[str, Any]:
        mine = select(Order).where(Order.user_id == user_id)
        page = self.page(mine.order_by(Order.created_at.desc(), Order.id), offset, limit)
        return {**page, "items": [_order(row) for row in page["items"]]}

    def advance(self, order: domain.Order, came_from: domain.Stage) -> bool:
        """Record a transition if the order still stands where it came from; False when
        another driver moved it first (nothing is written then)."""
        moved = self.session.execute(
            update(Order)
            .where(Order.id == order.id, Order.step == came_from.step)
            .where(Order.status == came_from.status)
            .values({name: getattr(order, name) for name in _TRANSITIONED})
            .returning(Order.id)
        ).first()
        if moved is not None and came_from.step == domain.RESERVE and order.total_cents is not None:
            # Priced by the reservation: every line in one statement.
            prices = {line.product_id: line.price_cents for line in order.lines}
            self.session.execute(
                update(OrderItem)
                .where(OrderItem.order_id == order.id)
                .values(price_cents=case(prices, value=OrderItem.product_id))
            )
        if moved is not None and order.gives_back_cart:
            self.give_back_to_cart(order)
        return moved is not None

    def forget(self, order: domain.Order) -> None:
        """Remove an order nothing was done for yet (its reservation was refused); what it
        took out of a cart goes back there."""
        removed = self.session.execute(
            delete(Order)
            .where(Order.id == order.id, Order.step == domain.RESERVE)
            .returning(Order.id)
        ).first()
        if removed is not None and order.from_cart:
            self.give_back_to_cart(order)

    def postpone(self, order_id: str, now: datetime) -> None:
        """Count a failed attempt and lease the order out until its next try is due."""
        row = self.session.get(Order, order_id, with_for_update=True)
        if row is not None and row.step != domain.DONE:
            row.attempts += 1
            row.lease_until = now + timedelta(seconds=domain.retry_delay(row.attempts))

    def claim_unfinished(self, lease: datetime, limit: int) -> list[str]:
        """Take over unfinished orders whose lease ran out, so no other driver takes them."""
        stale = (
            select(Order.id)
            .where(Order.step != domain.DONE, Order.lease_until < func.now())
            .order_by(Order.lease_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = update(Order).where(Order.id.in_(stale)).values(lease_until=lease)
        return list(self.session.scalars(claimed.returning(Order.id)))

    # -- the cart: product and quantity per line, in the order the lines were added

    def lock_cart(self, user_id: int) -> None:
        """Serialise the changes to one user's cart until the transaction ends (two tabs
        adding at once: the line count and the quantities stay within bounds)."""
        self.session.execute(select(func.pg_advisory_xact_lock(CART_LOCK_CLASS, user_id)))

    def cart(self, user_id: int) -> list[tuple[int, int]]:
        rows = self.session.execute(
            select(CartItem.product_id, CartItem.quantity)
            .where(CartItem.user_id == user_id)
            .order_by(CartItem.added_at, CartItem.product_id)
        )
        return [(product_id, quantity) for product_id, quantity in rows]

    def put_in_cart(self, user_id: int, product_id: int, quantity: int) -> None:
        """Set the line's quantity, adding the line when the cart has none for the product."""
        statement = insert(CartItem).values(
            user_id=user_id, product_id=product_id, quantity=quantity
        )
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[CartItem.user_id, CartItem.product_id],
                set_={"quantity": statement.excluded.quantity},
            )
        )

    def change_in_cart(self, user_id: int, product_id: int, quantity: int) -> bool:
        """Set the quantity of a line the cart holds; False when it holds none."""
        changed = self.session.execute(
            update(CartItem)
            .where(CartItem.user_id == user_id, CartItem.product_id == product_id)
            .values(quantity=quantity)
            .returning(CartItem.product_id)
        ).first()
        return changed is not None

    def remove_from_cart(self, user_id: int, product_id: int) -> None:
        self.session.execute(
            delete(CartItem).where(CartItem.user_id == user_id, CartItem.product_id == product_id)
        )

    def empty_cart(self, user_id: int) -> None:
        self.session.execute(delete(CartItem).where(CartItem.user_id == user_id))

    def give_back_to_cart(self, order: domain.Order) -> None:
        """Put an order's lines back into its owner's cart, added to what it holds now."""
        statement = insert(CartItem).values(
            [
                {"user_id": order.user_id, "product_id": line.product_id, "quantity": line.quantity}
                for line in order.lines
            ]
        )
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[CartItem.user_id, CartItem.product_id],
                set_={
                    "quantity": func.least(
                        CartItem.quantity + statement.excluded.quantity, MAX_QUANTITY
                    )
                },
            )
        )

    # -- the sales read model

    def count_confirmed(self, event: dict[str, Any]) -> bool:
        return sales.count_confirmed(self.session, event)

    def take_back_cancelled(self, event: dict[str, Any]) -> bool:
        return sales.take_back_cancelled(self.session, event)

    def sales(self, date_from: date, date_to: date) -> list[SalesDaily]:
        return sales.report(self.session, date_from, date_to)


def _keyed(user_id: int, idempotency_key: str | None) -> Select[Order]:
    """The user's order placed with this idempotency key (at most one: a unique constraint)."""
    return select(Order).where(Order.user_id == user_id, Order.idempotency_key == idempotency_key)


def _order(row: Order) -> domain.Order:
    return domain.Order(
        id=row.id,
        user_id=row.user_id,
        lines=[domain.Line(i.product_id, i.quantity, i.price_cents) for i in row.items],
        created_at=row.created_at,
        step=row.step,
        status=row.status,
        cancel_reason=row.cancel_reason,
        payment_token=row.payment_token,
        total_cents=row.total_cents,
        confirmed_at=row.confirmed_at,
        cancelled_at=row.cancelled_at,
        request_id=row.request_id,
        from_cart=row.from_cart,
    )
