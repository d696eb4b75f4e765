"""A Redis cache dependency that never takes the service down with it.

Every operation goes through a circuit breaker: while Redis is failing, reads are misses and
writes are no-ops, answered at once instead of waiting on a socket timeout per call. The
source of truth stays in PostgreSQL, so a missing cache only costs speed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pybreaker
import redis
from nameko.extensions import DependencyProvider

from chassis.resilience import Breaker, LogStateChanges

_log = logging.getLogger(__name__)

OPENED = "redis unavailable, serving without cache for %ss"
CLOSED = "redis available again, cache back in use"

REDIS_URL_KEY = "REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class CacheClient:
    """What a worker sees: JSON values under one key namespace, failures swallowed."""

    def __init__(
        self, client: redis.Redis, breaker: pybreaker.CircuitBreaker, namespace: str, ttl: int
    ) -> None:
        self._client = client
        self._breaker = breaker
        self._namespace = namespace
        self._ttl = ttl

    def key(self, name: str | int) -> str:
        return f"{self._namespace}:{name}"

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._breaker.call(getattr(self._client, method), *args, **kwargs)
        except pybreaker.CircuitBreakerError:
            return None
        except (redis.RedisError, OSError) as exc:
            _log.debug("redis %s failed: %s", method, exc)
            return None

    def get_json(self, name: str | int) -> Any | None:
        raw = self._call("get", self.key(name))
        return None if raw is None else json.loads(raw)

    def set_json(self, name: str | int, value: Any) -> None:
        self._call("set", self.key(name), json.dumps(value), ex=self._ttl)

    def delete(self, *names: str | int) -> None:
        if names:
            self._call("delete", *(self.key(name) for name in names))


class Cache(DependencyProvider):
    """``cache = Cache("products")`` injects a :class:`CacheClient` for that namespace.

    ``ttl`` bounds how long a value can outlive a write whose invalidation was lost (Redis
    down at that moment, or a read racing the write).
    """

    def __init__(self, namespace: str, ttl: int = 60, timeout: float = 0.25) -> None:
        self.namespace = namespace
        self.ttl = ttl
        self.timeout = timeout

    def setup(self) -> None:
        url = self.container.config.get(REDIS_URL_KEY) or DEFAULT_REDIS_URL
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            decode_responses=True,
        )
        self.breaker = Breaker(
            fail_max=3, reset_timeout=5, listeners=[LogStateChanges(_log, OPENED, CLOSED)]
        )

    def stop(self) -> None:
        self.client.close()

    def kill(self) -> None:
        self.client.close()

    def get_dependency(self, worker_ctx: Any) -> CacheClient:
        return CacheClient(self.client, self.breaker, self.namespace, self.ttl)

    # Reported by the service's readiness check, which does not fail for it: the service
    # serves from PostgreSQL while Redis is away.
    readiness_name = "redis"
    readiness_required = False

    def readiness(self) -> str | None:
        self.client.ping()
        return None
