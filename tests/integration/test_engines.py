"""The connection pools' liveness rule (``chassis.engines``), against a real PostgreSQL whose
backends are killed under them."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from chassis import engines
from chassis.migrate import ensure_database

URL = "postgresql+psycopg2://shop:shop@127.0.0.1:5432/chassis_test"


@pytest.fixture(scope="module")
def admin():
    ensure_database(URL)
    admin = create_engine(URL, isolation_level="AUTOCOMMIT")
    yield admin
    admin.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def kill(admin, pid: int) -> None:
    with admin.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def idle_engine(after: float):
    engine = create_engine(URL, pool_size=1, max_overflow=0)
    engines.check_when_idle(engine, after=after)
    return engine


def test_a_connection_that_died_while_idle_is_replaced_before_it_is_lent(admin):
    engine = idle_engine(after=0.0)
    try:
        first = backend_pid(engine)
        kill(admin, first)
        # Checked on the way out of the pool: the caller never sees the dead one.
        assert backend_pid(engine) != first
    finally:
        engine.dispose()


def test_a_connection_lent_again_at_once_is_not_pinged(admin):
    # The cost the rule saves: within the window nothing is asked before the transaction, so
    # a backend killed in between fails the one transaction that uses it...
    engine = idle_engine(after=60.0)
    try:
        first = backend_pid(engine)
        kill(admin, first)
        with pytest.raises(OperationalError):
            backend_pid(engine)
        # ...and the pool is renewed after it: the next one succeeds on a new backend.
        assert backend_pid(engine) != first
    finally:
        engine.dispose()


def test_the_last_connection_returned_is_the_next_one_lent(admin):
    engine = engines.engine(URL, pool_size=3)
    try:
        with engine.connect() as a, engine.connect() as b:
            pids = {conn.scalar(text("SELECT pg_backend_pid()")) for conn in (a, b)}
        last = backend_pid(engine)
        assert last in pids
        assert backend_pid(engine) == last
    finally:
        engine.dispose()
