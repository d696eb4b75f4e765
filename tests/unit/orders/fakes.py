"""An in-memory stand-in for ``OrdersRepository``, and RPC proxies that answer from a script."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from orders import domain


class Session:
    """What the outbox and the inbox write through, here only recorded."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []


class Outbox:
    def add(self, session: Session, event_type: str, **payload: Any) -> None:
        session.events.append((event_type, payload))


class InMemoryOrders:
    def __init__(self) -> None:
        self.session = Session()
        self.rows: dict[str, domain.Order] = {}
        self.keys: dict[tuple[int, str | None], tuple[str, str]] = {}
        self.postponed: list[str] = []
        self.written: list[tuple[str, str]] = []  # (from step, to step) of each transition

    def add(self, order, idempotency_key, fingerprint, lease) -> bool:
        key = (order.user_id, idempotency_key)
        if idempotency_key is not None and key in self.keys:
            return False
        self.keys[key] = (order.id, fingerprint)
        self.rows[order.id] = copy.deepcopy(order)
        return True

    def by_key(self, user_id, idempotency_key):
        order_id, fingerprint = self.keys[(user_id, idempotency_key)]
        return self.get(order_id), fingerprint

    def get(self, order_id: str) -> domain.Order | None:
        row = self.rows.get(order_id)
        return None if row is None else copy.deepcopy(row)

    def advance(self, order: domain.Order, came_from: domain.Stage) -> bool:
        row = self.rows.get(order.id)
        if row is None or (row.step, row.status) != came_from:
            return False
        self.rows[order.id] = copy.deepcopy(order)
        self.rows[order.id].events = []
        self.written.append((came_from.step, order.step))
        return True

    def forget(self, order: domain.Order) -> None:
        if self.rows[order.id].step == domain.RESERVE:
            del self.rows[order.id]

    def postpone(self, order_id: str, now: datetime) -> None:
        self.postponed.append(order_id)


class Proxy:
    """Answers each method from ``answers``: a value, an exception to raise, or a callable."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, method: str) -> Any:
        if method not in self.answers:
            raise AttributeError(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((method, args, kwargs))
            answer = self.answers[method]
            if isinstance(answer, BaseException):
                raise answer
            return answer(*args, **kwargs) if callable(answer) else answer

        return call

    def called(self, method: str) -> int:
        return sum(1 for name, _, _ in self.calls if name == method)
