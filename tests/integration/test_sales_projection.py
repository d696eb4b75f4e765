"""The sales read model under concurrency: an order's confirmation and its cancellation handled
at the same moment leave it counted zero times, whichever of the two commits first."""

import random
import uuid
from datetime import UTC, datetime

import eventlet
import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from chassis.contracts.events import ORDER_CANCELLED, ORDER_CONFIRMED, make_event
from orders import sales
from orders.models import SalesApplied, SalesDaily
from orders.service import OrdersService

ROUNDS = 10


@pytest.fixture
def engine(databases):
    engine = create_engine(databases["orders"], pool_size=4)
    yield engine
    engine.dispose()


def events(product_id: int) -> tuple[dict, dict]:
    """A confirmation and the cancellation of the same order, as orders announces them."""
    order = {
        "order_id": str(uuid.uuid4()),
        "user_id": 7,
        "items": [{"product_id": product_id, "quantity": 3, "price_cents": 250}],
        "total_cents": 750,
    }
    confirmed_at = datetime.now(UTC).isoformat()
    return (
        make_event(ORDER_CONFIRMED, confirmed_at=confirmed_at, **order),
        make_event(ORDER_CANCELLED, reason="user_cancelled", confirmed_at=confirmed_at, **order),
    )


def totals(engine, product_id: int) -> tuple[int, int]:
    with Session(engine) as session:
        rows = session.execute(
            select(SalesDaily.units, SalesDaily.revenue_cents).where(
                SalesDaily.product_id == product_id
            )
        ).all()
    return sum(row.units for row in rows), sum(row.revenue_cents for row in rows)


def counted(engine, order_id: str) -> bool:
    with Session(engine) as session:
        return session.scalar(select(SalesApplied.counted).where(SalesApplied.order_id == order_id))


def race(engine, first, second) -> None:
    """``first`` runs in a transaction left open while ``second`` starts in another one; then
    ``first`` commits, and ``second`` is let finish and commit."""
    with Session(engine) as one:
        with one.begin():
            first(one)
            other = eventlet.spawn(_in_transaction, engine, second)
            eventlet.sleep(0.1)  # long enough for `second` to run up to where it must wait
        other.wait()


def _in_transaction(engine, step) -> None:
    with Session(engine) as session, session.begin():
        step(session)


@pytest.mark.parametrize("first_handled", [ORDER_CONFIRMED, ORDER_CANCELLED])
def test_a_confirmation_and_its_cancellation_at_the_same_moment_count_nothing(
    engine, first_handled
):
    product_id = random.randrange(10**8, 2 * 10**8)
    for _ in range(ROUNDS):
        confirmed, cancelled = events(product_id)
        steps = {
            ORDER_CONFIRMED: lambda session, e=confirmed: sales.count_confirmed(session, e),
            ORDER_CANCELLED: lambda session, e=cancelled: sales.take_back_cancelled(session, e),
        }
        second = ORDER_CANCELLED if first_handled == ORDER_CONFIRMED else ORDER_CONFIRMED
        race(engine, steps[first_handled], steps[second])
        assert counted(engine, confirmed["order_id"]) is False
        assert totals(engine, product_id) == (0, 0)


def test_the_handlers_racing_on_many_orders_leave_the_report_right(
    runner_factory, service_config, engine
):
    runner = runner_factory({**service_config, "max_workers": 20}, OrdersService)
    runner.start()
    orders = runner.service_map["orders"]
    dispatch = event_dispatcher(service_config)
    product_id = random.randrange(2 * 10**8, 3 * 10**8)
    pairs = [events(product_id) for _ in range(30)]
    kept = events(product_id)[0]  # one order that stays confirmed

    def handled(method, count):
        seen = []

        def done(worker_ctx, result, exc_info):
            seen.append(worker_ctx)
            return len(seen) == count

        return entrypoint_waiter(orders, method, callback=done, timeout=20)

    with handled("project_order_cancelled", 30), handled("project_order_confirmed", 31):
        for confirmed, cancelled in pairs:
            dispatch("orders", ORDER_CONFIRMED, confirmed)
            dispatch("orders", ORDER_CANCELLED, cancelled)
        dispatch("orders", ORDER_CONFIRMED, kept)
    assert totals(engine, product_id) == (3, 750)
    assert [counted(engine, c["order_id"]) for c, _ in pairs] == [False] * 30
