"""How every engine of the shop holds its PostgreSQL connections.

* **The last connection returned is the next one lent** (``pool_use_lifo``): under load a few
  connections stay busy, and the others stay idle (and are the ones pinged).
* **Checked when idle, not on every checkout.** SQLAlchemy's ``pool_pre_ping`` asks the server
  before every transaction, one round trip each. Here a connection is pinged only when it sat
  in the pool for ``IDLE_CHECK_AFTER`` seconds (a server restart is most likely to have killed
  it then); a connection lent within that time is trusted. If the server did go away in
  between, the transaction using it fails with ``OperationalError`` (``ServiceUnavailable`` to
  the caller, who may retry), and SQLAlchemy then drops every connection of the pool that is as
  old, so the next transaction gets a new one.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError

IDLE_CHECK_AFTER = 1.0  # seconds a connection may sit in the pool before it is pinged
_RETURNED = "returned_at"


def engine(url: str, *, pool_size: int, max_overflow: int = 0, **options: Any) -> Engine:
    """An engine keeping ``pool_size`` connections, opening up to ``max_overflow`` more for
    a burst (closed again when returned), each pinged only when it was idle."""
    created = create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_use_lifo=True, **options
    )
    check_when_idle(created)
    return created


def check_when_idle(target: Engine, after: float = IDLE_CHECK_AFTER) -> None:
    """Ping a pooled connection before lending it, when it was returned ``after`` seconds ago
    or more. A dead one is replaced by a new one before the caller sees it, and every other
    connection of the pool as old is dropped too (the server went away since)."""
    dialect = target.dialect

    @event.listens_for(target, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(target, "checkout")
    def _lent(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < after:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:  # whatever the ping met, not this connection
            raise InvalidatePoolError(str(exc)) from exc
        if not alive:
            raise InvalidatePoolError("the connection did not answer its ping")
