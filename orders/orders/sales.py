"""The sales read model: a projection of ``order_confirmed`` and ``order_cancelled``.

    python -m orders.sales rebuild      # recompute it from the orders table

Each order is counted at most once and taken out at most once (``sales_applied``), whatever
order its events arrive in and however close together they are handled (a lock per order); a
rebuild recomputes ``sales_applied`` too, so events still in flight when it ran change nothing.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, cast, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from orders import domain
from orders.models import Order, OrderItem, SalesApplied, SalesDaily


def sales_day(confirmed_at: str | datetime) -> date:
    """Sales count on the UTC day of the confirmation, cancellations included."""
    moment = datetime.fromisoformat(confirmed_at) if isinstance(confirmed_at, str) else confirmed_at
    return moment.astimezone(UTC).date()


# The lock space of ``pg_advisory_xact_lock(int, int)`` this module takes per order.
ORDER_LOCK_CLASS = 7_412


def _lock_order(session: Session, order_id: str) -> None:
    """Serialise the projection's steps for one order until the transaction ends.

    Without it, a cancellation handled while the confirmation's transaction is still open
    finds no row to take back (it cannot see the uncommitted one), and the order stays
    counted. Taken first, the second handler waits for the first to commit, then sees what it
    wrote: the two steps apply one after the other, in either order."""
    session.execute(select(func.pg_advisory_xact_lock(ORDER_LOCK_CLASS, func.hashtext(order_id))))


# Adds an order's lines to their day's rows, all in one upsert. ``{source}`` is what the lines
# are joined with: the order's claim (no claim made, no line added), or nothing.
_ADD_LINES = """
    INSERT INTO sales_daily AS sales (day, product_id, units, revenue_cents)
    SELECT :day, line.product_id, sum(line.units), sum(line.revenue)
    FROM {source}unnest(
        CAST(:product_ids AS integer[]), CAST(:units AS bigint[]), CAST(:revenue AS bigint[])
    ) AS line (product_id, units, revenue)
    GROUP BY line.product_id
    ON CONFLICT (day, product_id) DO UPDATE
    SET units = sales.units + excluded.units,
        revenue_cents = sales.revenue_cents + excluded.revenue_cents
"""
# Counts a confirmed order, in one statement: takes the order's lock, claims the order, and adds
# its lines only if the claim was made (not counted yet, and no cancellation came first).
_COUNT_CONFIRMED = text(
    """
    WITH locked AS (
        SELECT pg_advisory_xact_lock(:lock_class, hashtext(:order_id))
    ), claimed AS (
        INSERT INTO sales_applied (order_id, day, counted)
        SELECT :order_id, :day, true FROM locked
        ON CONFLICT DO NOTHING
        RETURNING order_id
    )
    """
    + _ADD_LINES.format(source="claimed, ")
)
_TAKE_BACK_LINES = text(_ADD_LINES.format(source=""))


def _lines(day: date, items: list[dict[str, Any]], sign: int) -> dict[str, Any]:
    """The parameters of ``_ADD_LINES``: the lines' units and revenue, times ``sign``."""
    return {
        "day": day,
        "product_ids": [item["product_id"] for item in items],
        "units": [sign * item["quantity"] for item in items],
        "revenue": [sign * item["quantity"] * item["price_cents"] for item in items],
    }


def count_confirmed(session: Session, event: dict[str, Any]) -> bool:
    """Count a confirmed order's lines on its day; False when counted already, or when its
    cancellation came first. The order's lock is held until the transaction ends, as
    ``take_back_cancelled`` holds it."""
    counted: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        _COUNT_CONFIRMED,
        {
            "lock_class": ORDER_LOCK_CLASS,
            "order_id": event["order_id"],
            **_lines(sales_day(event["confirmed_at"]), event["items"], sign=1),
        },
    )
    return counted.rowcount > 0


def take_back_cancelled(session: Session, event: dict[str, Any]) -> bool:
    if not event.get("confirmed_at"):
        return False  # never confirmed: never counted
    _lock_order(session, event["order_id"])
    day = sales_day(event["confirmed_at"])
    undone = session.execute(
        update(SalesApplied)
        .where(SalesApplied.order_id == event["order_id"], SalesApplied.counted.is_(True))
        .values(counted=False)
        .returning(SalesApplied.order_id)
    ).first()
    if undone is not None:
        session.execute(_TAKE_BACK_LINES, _lines(day, event["items"], sign=-1))
        return True
    # The cancellation overtook the confirmation: mark the order so it is never counted.
    session.execute(
        pg_insert(SalesApplied)
        .values(order_id=event["order_id"], day=day, counted=False)
        .on_conflict_do_nothing()
    )
    return False


def report(session: Session, date_from: date, date_to: date) -> list[SalesDaily]:
    return list(
        session.scalars(
            select(SalesDaily)
            .where(SalesDaily.day.between(date_from, date_to), SalesDaily.units != 0)
            .order_by(SalesDaily.day, SalesDaily.product_id)
        )
    )


def rebuild(session: Session) -> int:
    """Recompute the read model from the orders themselves; returns the rows written."""
    session.execute(select(func.pg_advisory_xact_lock(7_412_002)))
    session.execute(delete(SalesDaily))
    session.execute(delete(SalesApplied))
    day = cast(func.timezone("UTC", Order.confirmed_at), Date)
    session.execute(
        insert(SalesApplied).from_select(
            ["order_id", "day", "counted"],
            select(Order.id, day, Order.status == domain.CONFIRMED).where(
                Order.confirmed_at.is_not(None)
            ),
        )
    )
    rows = session.execute(
        insert(SalesDaily)
        .from_select(
            ["day", "product_id", "units", "revenue_cents"],
            select(
                day,
                OrderItem.product_id,
                func.sum(OrderItem.quantity),
                func.sum(OrderItem.quantity * OrderItem.price_cents),
            )
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.status == domain.CONFIRMED)
            .group_by(day, OrderItem.product_id),
        )
        .returning(SalesDaily.product_id)
    ).all()
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    from sqlalchemy import create_engine

    from chassis.config import load_config
    from chassis.migrate import database_url, service_root

    parser = argparse.ArgumentParser(description="The sales read model of the orders service.")
    parser.add_argument("command", choices=["rebuild"])
    parser.add_argument("--config", help="config file (default: orders/config.yaml)")
    args = parser.parse_args(argv)
    config = load_config(args.config or service_root("orders") / "config.yaml")
    engine = create_engine(database_url(config, "orders"))
    with Session(engine) as session, session.begin():
        written = rebuild(session)
    engine.dispose()
    print(f"sales read model rebuilt: {written} (day, product) rows")


if __name__ == "__main__":
    main()
