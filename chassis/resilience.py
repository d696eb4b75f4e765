"""Bounds on calls to other services.

nameko 2.14's in-service ``RpcProxy`` waits for a reply for ever; every call a service makes to
another goes through ``within`` so that a lost or slow reply costs a known amount of time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import eventlet
import pybreaker

T = TypeVar("T")


class CallTimeout(Exception):
    """A call to another service did not answer in time; it may still take effect later."""


def within(seconds: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)``, raising ``CallTimeout`` after ``seconds``."""
    timeout = eventlet.Timeout(seconds)
    try:
        return fn(*args, **kwargs)
    except eventlet.Timeout as exc:
        if exc is not timeout:
            raise
        name = getattr(fn, "method_name", None) or getattr(fn, "__name__", repr(fn))
        raise CallTimeout(f"{name} did not answer within {seconds:g}s") from None
    finally:
        timeout.cancel()


class LogStateChanges(pybreaker.CircuitBreakerListener):
    """Logs a circuit breaker opening (``opened``, given the seconds it stays open) and
    closing again (``closed``), so an operator sees when a dependency is being skipped."""

    def __init__(self, logger: logging.Logger, opened: str, closed: str) -> None:
        self.logger = logger
        self.opened = opened
        self.closed = closed

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            self.logger.warning(self.opened, cb.reset_timeout)
        elif new_state.name == pybreaker.STATE_CLOSED:
            self.logger.info(self.closed)


class Breaker(pybreaker.CircuitBreaker):
    """pybreaker's circuit breaker, without its lock held across the protected call.

    ``pybreaker.CircuitBreaker.call`` runs the call while holding the breaker's one lock, so
    concurrent callers wait for each other: unnoticed while the dependency answers in a
    millisecond, but while it is slow every caller queues behind the full timeout of each call
    before it. Here the lock guards the breaker's state only; the calls run side by side.
    """

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            state = self.state
            if state.name == pybreaker.STATE_OPEN:
                # pybreaker's open state makes the trial call itself, under the lock: check its
                # timeout here instead, and let the trial run like any other call.
                opened_at = self._state_storage.opened_at
                if opened_at and datetime.now(UTC) < opened_at + timedelta(
                    seconds=self.reset_timeout
                ):
                    raise pybreaker.CircuitBreakerError("circuit breaker still open")
                self.half_open()
                state = self.state
            state.before_call(func, *args, **kwargs)
            for listener in self.listeners:
                listener.before_call(self, func, *args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            with self._lock:
                state._handle_error(exc)  # counts it, may open the breaker, and re-raises
            raise
        with self._lock:
            state._handle_success()
        return result
