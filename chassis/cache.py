"""A Redis cache dependency that never takes the service down with it.

Every operation goes through a circuit breaker: while Redis is failing, reads are misses and
writes are no-ops, answered at once instead of waiting on a socket timeout per call. The
source of truth stays in PostgreSQL, so a missing cache only costs speed.

A read-through cache has a race of its own: a reader loads a row, a writer changes it and
invalidates the key, and then the reader stores what it loaded, now stale, for the whole TTL.
So every key has a version, which each invalidation bumps: a reader takes the versions before it
loads (``versions``) and stores what it loaded only if they are still the same (``fill``), in
one script on Redis. Invalidate after the change is committed.
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

VERSION_TTL = 86_400  # seconds: a version outlives any load that read it
# KEYS: the value's key, its version's key. ARGV: the value, the version read before the load,
# the TTL. Stores the value only if no invalidation came in between.
_FILL = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  return 1
end
return 0
"""
# KEYS: value key, version key, value key, version key... ARGV: the versions' TTL.
_INVALIDATE = """
for i = 1, #KEYS, 2 do
  redis.call('DEL', KEYS[i])
  redis.call('INCR', KEYS[i + 1])
  redis.call('EXPIRE', KEYS[i + 1], ARGV[1])
end
return #KEYS / 2
"""

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

    def version_key(self, name: str | int) -> str:
        return f"{self._namespace}:version:{name}"

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

    def versions(self, *names: str | int) -> list[str] | None:
        """The current version of each name, to take before loading what ``fill`` will store;
        None when Redis cannot tell (then nothing is stored)."""
        found = self._call("mget", [self.version_key(name) for name in names])
        return None if found is None else [version or "" for version in found]

    def fill(self, name: str | int, value: Any, version: str | None) -> None:
        """Store ``value``, loaded after ``version`` was read, unless the name was invalidated
        since (the value may be stale then)."""
        if version is not None:
            keys = (self.key(name), self.version_key(name))
            self._call("eval", _FILL, 2, *keys, json.dumps(value), version, self._ttl)

    def delete(self, *names: str | int) -> None:
        """Invalidate ``names``: drop their values and bump their versions."""
        if names:
            keys = [key for name in names for key in (self.key(name), self.version_key(name))]
            self._call("eval", _INVALIDATE, len(keys), *keys, VERSION_TTL)


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
