"""The gateway's Redis client: made on first use, every call through a circuit breaker.

Made on first use, so that each gunicorn worker opens its own connections after fork. While
Redis keeps failing, the breaker answers at once instead of letting every request wait out a
socket timeout; either way a failure is ``Unavailable``, and the caller goes on without Redis
(the idempotency layer answers without replaying, the failed-login limit counts in memory).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker
import redis

from chassis.resilience import Breaker, LogStateChanges

T = TypeVar("T")


class Unavailable(Exception):
    """Redis did not answer, or its breaker is open: go on without it."""


class GuardedRedis:
    def __init__(
        self,
        url: str,
        timeout: float,
        log: logging.Logger,
        opened: str,
        closed: str,
        client: Any = None,
        decode_responses: bool = False,
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._log = log
        self._client = client  # given by tests: an in-memory stand-in
        self._decode = decode_responses
        self._lock = threading.Lock()
        self._breaker = Breaker(
            fail_max=3, reset_timeout=5, listeners=[LogStateChanges(log, opened, closed)]
        )

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = redis.Redis.from_url(
                    self._url,
                    socket_timeout=self._timeout,
                    socket_connect_timeout=self._timeout,
                    decode_responses=self._decode,
                )
            return self._client

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<method>(*args, **kwargs)``; ``Unavailable`` when it fails."""
        return self.run(lambda client: getattr(client, method)(*args, **kwargs), method)

    def run(self, work: Callable[[Any], T], what: str = "call") -> T:
        """``work(client)`` (a script, a pipeline); ``Unavailable`` when it fails."""
        try:
            return self._breaker.call(lambda: work(self.client()))
        except pybreaker.CircuitBreakerError as exc:
            raise Unavailable(str(exc)) from None
        except (redis.RedisError, OSError) as exc:
            self._log.warning("redis %s failed: %r", what, exc)
            raise Unavailable(repr(exc)) from None
