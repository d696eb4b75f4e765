"""Test doubles for the chassis' dependency providers, for unit tests through ``worker_factory``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

R = TypeVar("R")


class FakeStore(Generic[R]):
    """Stands in for a :class:`chassis.store.Store`: every transaction lends the same in-memory
    repository. ``transactions`` counts them; a block that raises counts in ``rolled_back``
    (the fake keeps what it did: an in-memory repository has no rollback)."""

    def __init__(self, repository: R) -> None:
        self.repository = repository
        self.transactions = 0
        self.rolled_back = 0

    @contextmanager
    def transaction(self) -> Iterator[R]:
        self.transactions += 1
        try:
            yield self.repository
        except BaseException:
            self.rolled_back += 1
            raise
