"""A circuit breaker per downstream service, and retries for reads.

While a service is down, waiting out a timeout on every request only piles requests up: after
``fail_max`` consecutive failures to reach it, its breaker opens and the gateway answers 503
with ``Retry-After`` at once; after ``reset_timeout`` seconds a request is let through, and its
success closes the breaker again. Only unavailability counts: a service that answers, even with
an error, is up.

Reads are idempotent, so a read that met a broken connection is tried again (with a fresh
client) before the client sees an error. Writes are not retried here: they carry their own
idempotency keys, and the client decides.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout, UnknownService
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from chassis.contracts.errors import ServiceUnavailable
from chassis.resilience import Breaker, LogStateChanges
from gateway.rpc import PoolExhausted

# What says "the service (or the broker) cannot be reached", as opposed to an answer.
UNAVAILABLE = (
    ServiceUnavailable,
    UnknownService,
    RpcTimeout,
    PoolExhausted,
    OperationalError,
    ConnectionError,
    OSError,
)
# What a read may simply try again: the connection broke, and the client was thrown away.
RETRYABLE = (OperationalError, ConnectionError, OSError)

OPENED = "circuit open: calls answered 503 for %ss"
CLOSED = "circuit closed: calls go through again"


class GuardedRpc:
    """The RPC pool as routes see it: every call behind its service's breaker; ``read`` for
    idempotent calls, which are tried again when their connection broke."""

    def __init__(self, pool: Any, fail_max: int, reset_timeout: float, read_attempts: int):
        self.pool = pool
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self.read_attempts = read_attempts
        self._breakers: dict[str, Breaker] = {}
        self._lock = threading.Lock()

    def breaker(self, service: str) -> Breaker:
        with self._lock:
            if service not in self._breakers:
                self._breakers[service] = Breaker(
                    fail_max=self.fail_max,
                    reset_timeout=self.reset_timeout,
                    exclude=[lambda exc: not isinstance(exc, UNAVAILABLE)],
                    listeners=[
                        LogStateChanges(logging.getLogger(f"{__name__}.{service}"), OPENED, CLOSED)
                    ],
                    throw_new_error_on_trip=False,
                    name=service,
                )
            return self._breakers[service]

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.breaker(service).call(self.pool.call, service, method, *args, **kwargs)

    def read(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.read_attempts),
            wait=wait_exponential(multiplier=0.05, max=0.5),
            retry=retry_if_exception_type(RETRYABLE),
            reraise=True,
        )
        return retrying(self.call, service, method, *args, **kwargs)

    def call_within(
        self, timeout: float, service: str, method: str, *args: Any, **kwargs: Any
    ) -> Any:
        return self.breaker(service).call(
            self.pool.call_within, timeout, service, method, *args, **kwargs
        )
