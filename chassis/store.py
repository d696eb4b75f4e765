"""A service's database as its workers see it: one transaction at a time, through the service's
repository, so that ``service.py`` holds no SQL::

    class ProductsService(ServiceBase):
        store = Store(Base, ProductsRepository)

        @rpc
        def get_product(self, product_id):
            with self.store.transaction() as products:  # a ProductsRepository on one session
                return products.get(product_id)
            # committed here; rolled back if the block raised

The repository's ``session`` is the transaction's, for what must commit with it (an outbox
event, an inbox claim). Unit tests give the worker an in-memory repository instead
(:class:`chassis.testing.FakeStore`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from nameko_sqlalchemy import Database
from nameko_sqlalchemy.database import DB_URIS_KEY
from nameko_sqlalchemy.database import Session as WorkerSession
from sqlalchemy import Select, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from chassis import engines
from chassis.contracts.errors import ServiceUnavailable

_log = logging.getLogger(__name__)

R = TypeVar("R")


class Repository:
    """Base of each service's repository: the SQL of one service, over one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def page(self, query: Select[Any], offset: int, limit: int) -> dict[str, Any]:
        """One page of ``query`` (already ordered) and how many rows it has in all: the
        ``{"items", "total", "offset", "limit"}`` envelope every list call answers."""
        total = self.session.scalar(
            select(func.count()).select_from(query.order_by(None).subquery())
        )
        items = list(self.session.scalars(query.offset(offset).limit(limit)))
        return {"items": items, "total": total or 0, "offset": offset, "limit": limit}


class Transactions(Generic[R]):
    """What a worker gets: ``transaction()`` opens one and lends the repository on it."""

    def __init__(self, open_session: Callable[[], Any], repository: Callable[[Session], R]):
        self._open_session = open_session
        self._repository = repository

    @contextmanager
    def transaction(self) -> Iterator[R]:
        """One transaction, committed when the block ends; ``ServiceUnavailable`` (nothing
        done: retry later) when the database cannot be reached or drops the connection."""
        try:
            with self._open_session() as session:
                yield self._repository(session)
        except OperationalError as exc:
            _log.warning("database unavailable: %s", str(exc).splitlines()[0])
            raise ServiceUnavailable("The service's database is unavailable") from exc


class Store(Database):
    """nameko-sqlalchemy's ``Database``, handing workers transactions on a repository, over an
    engine that keeps ``pool_size`` connections and opens up to ``max_overflow`` more under
    load (``chassis.engines``)."""

    def __init__(
        self,
        declarative_base: type[DeclarativeBase],
        repository: Callable[[Session], Any],
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
    ) -> None:
        super().__init__(declarative_base)
        self.repository = repository
        self.pool_size = pool_size
        self.max_overflow = max_overflow

    def setup(self) -> None:
        key = f"{self.container.service_name}:{self.declarative_base.__name__}"
        self.db_uri = self.container.config[DB_URIS_KEY][key]
        self.engine = engines.engine(
            self.db_uri, pool_size=self.pool_size, max_overflow=self.max_overflow
        )
        self.Session = sessionmaker(bind=self.engine, class_=WorkerSession)

    def get_dependency(self, worker_ctx: Any) -> Transactions[Any]:
        db = super().get_dependency(worker_ctx)
        return Transactions(db.get_session, self.repository)
