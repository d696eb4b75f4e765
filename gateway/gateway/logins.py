"""The failed-login limit: every attempt is counted before the password is checked, and given
back unless it turned out to be a wrong password.

Counting after the answer (as a rate limiter's "deduct when" does) lets a burst of parallel
guesses all pass the check before any of them is counted. Here an attempt takes a place in each
of its windows first, atomically, in one Redis script; the guess goes to the users service only
if it got one, and the place is released again when the answer was not ``401``. So N parallel
guesses get at most the limit's worth of 401s, whatever the number of gunicorn workers and
gateway instances sharing the Redis.

Two keys, so that the lock-out is not a denial of service of its own: the email address with the
client's address (the tight limit: a guesser locks out only itself), and the email address alone
(a higher ceiling, against guessing one account from many addresses). Addresses are hashed, so
Redis keys and logs carry none.

Without Redis (down, or ``memory://``) each process counts in its own memory until it is back.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from limits import parse_many

from chassis.contracts.errors import InvalidCredentials
from gateway.errors import ApiError
from gateway.guarded_redis import GuardedRedis, Unavailable

_log = logging.getLogger(__name__)

KEY_PREFIX = "gateway:logins:v1"
TOO_MANY = "Too many failed logins for this email address: try again later"

# KEYS: one sorted set per window. ARGV: now (ms), the member, then (window ms, limit) per key.
# Drops what left each window; if any window is full, adds nothing and answers the wait (ms)
# until its oldest attempt leaves; else adds the member to every window and answers 0.
_CLAIM = """
local now = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[1 + 2 * i])
  local limit = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, tonumber(ARGV[1 + 2 * i]))
end
return 0
"""


@dataclass(frozen=True)
class Window:
    seconds: float
    limit: int


def windows(value: str) -> tuple[Window, ...]:
    """``"5 per minute; 20 per hour"`` as windows; empty: none (no limit)."""
    if not value.strip():
        return ()
    return tuple(Window(item.get_expiry(), item.amount) for item in parse_many(value))


class LoginGuard:
    """One per process; its Redis client is made on first use (after gunicorn forks)."""

    def __init__(
        self,
        storage_url: str,
        per_email_and_address: str,
        per_email: str,
        timeout: float = 0.5,
    ) -> None:
        self._in_memory_only = storage_url.startswith("memory://")
        self._per_pair = windows(per_email_and_address)
        self._per_email = windows(per_email)
        self._memory = MemoryWindows()
        self._redis = GuardedRedis(
            storage_url,
            timeout,
            _log,
            "redis unavailable: failed logins counted in memory for %ss",
            "redis available again: failed logins counted in redis",
        )
        self._script: Any = None

    @contextlib.contextmanager
    def attempt(self, email: str, client: str) -> Iterator[None]:
        """Hold a place for one login attempt of ``email`` from ``client``; a 429 when a
        window is full. The place is kept only if the block raises ``InvalidCredentials``
        (a wrong password)."""
        keys = self._keys(email, client)
        if not keys:
            yield
            return
        member = uuid.uuid4().hex
        wait = self._claim(keys, member)
        if wait > 0:
            raise ApiError(
                429, "rate_limited", TOO_MANY, headers={"Retry-After": str(math.ceil(wait))}
            )
        try:
            yield
        except Exception as exc:
            if not isinstance(exc, InvalidCredentials):
                self._release(keys, member)
            raise
        else:
            self._release(keys, member)

    def _keys(self, email: str, client: str) -> list[tuple[str, Window]]:
        address = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        pair = hashlib.sha256(f"{address}\n{client}".encode()).hexdigest()
        return [(f"{KEY_PREFIX}:pair:{pair}:{w.seconds}", w) for w in self._per_pair] + [
            (f"{KEY_PREFIX}:email:{address}:{w.seconds}", w) for w in self._per_email
        ]

    def _claim(self, keys: Sequence[tuple[str, Window]], member: str) -> float:
        """Seconds to wait (0: the attempt has its place in every window)."""
        args: list[Any] = [int(time.time() * 1000), member]
        for _, window in keys:
            args += [int(window.seconds * 1000), window.limit]

        def claim(client: Any) -> Any:
            if self._script is None:
                self._script = client.register_script(_CLAIM)
            return self._script(keys=[key for key, _ in keys], args=args)

        try:
            return int(self._run(claim, "claim")) / 1000
        except Unavailable:
            return self._memory.claim(keys, member)

    def _release(self, keys: Sequence[tuple[str, Window]], member: str) -> None:
        self._memory.release(keys, member)  # wherever it was counted

        def release(client: Any) -> Any:
            pipeline = client.pipeline(transaction=False)
            for key, _ in keys:
                pipeline.zrem(key, member)
            return pipeline.execute()

        with contextlib.suppress(Unavailable):
            self._run(release, "release")

    def _run(self, work: Any, what: str) -> Any:
        if self._in_memory_only:
            raise Unavailable("counted in memory by configuration")
        return self._redis.run(work, what)


class MemoryWindows:
    """The script above, for one process, while Redis cannot be used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, list[tuple[float, str]]] = {}

    def claim(self, keys: Sequence[tuple[str, Window]], member: str) -> float:
        now = time.time()
        with self._lock:
            wait = 0.0
            for key, window in keys:
                live = [e for e in self._entries.get(key, []) if e[0] > now - window.seconds]
                self._entries[key] = live
                if len(live) >= window.limit:
                    wait = max(wait, live[0][0] + window.seconds - now)
            if wait > 0:
                return wait
            for key, _ in keys:
                self._entries[key].append((now, member))
            return 0.0

    def release(self, keys: Sequence[tuple[str, Window]], member: str) -> None:
        with self._lock:
            for key, _ in keys:
                entries = self._entries.get(key)
                if entries:
                    self._entries[key] = [e for e in entries if e[1] != member]
