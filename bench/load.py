"""A small closed-loop HTTP load generator: N connections, each sending its next request as soon
as the previous one is answered, for a fixed time. Latencies are kept whole (no sampling), so
the percentiles are exact."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# A request: given the connection's session and its index, send one request and name its
# outcome ("ok", "confirmed"...), or None when it failed. The latency is the whole call.
Request = Callable[[aiohttp.ClientSession, int], Awaitable[str | None]]
# The outcome of a 429: an error, counted apart, since it measures the gateway's rate limits
# rather than the shop (bench/README.md says how to start `make run` with higher ones).
RATE_LIMITED = "rate_limited"


@dataclass
class Result:
    scenario: str
    connections: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of successful requests, in seconds
    errors: int = 0
    rate_limited: int = 0  # of the errors, answers 429
    outcomes: dict[str, int] = field(default_factory=dict)  # of measured requests
    measured_from: float = 0.0  # time.monotonic() when measuring began
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        ok = len(self.latencies)
        return {
            "scenario": self.scenario,
            "connections": self.connections,
            "seconds": round(self.seconds, 2),
            "requests": ok + self.errors,
            "errors": self.errors,
            "rate_limited": self.rate_limited,
            "rps": round(ok / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": _percentile(self.latencies, 50),
            "p95_ms": _percentile(self.latencies, 95),
            "p99_ms": _percentile(self.latencies, 99),
            **self.extra,
        }


def _percentile(latencies: list[float], pct: float) -> float | None:
    if not latencies:
        return None
    if len(latencies) == 1:
        return round(latencies[0] * 1000, 2)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return round(cuts[int(pct) - 1] * 1000, 2)


async def run(
    scenario: str,
    request: Request,
    *,
    connections: int,
    seconds: float,
    warmup: float = 2.0,
    headers: Callable[[int], dict[str, str]] | None = None,
    on_measure: Callable[[], None] | None = None,
) -> Result:
    """Drive ``request`` from ``connections`` loops; measure after ``warmup`` seconds, calling
    ``on_measure`` then (an exception it raises ends the run)."""
    result = Result(scenario, connections, seconds)
    measure_from = result.measured_from = time.monotonic() + warmup
    stop_at = measure_from + seconds

    async def loop(index: int) -> None:
        connector = aiohttp.TCPConnector(limit=1, force_close=False)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=headers(index) if headers else None
        ) as session:
            while (now := time.monotonic()) < stop_at:
                try:
                    outcome = await request(session, index)
                except (TimeoutError, aiohttp.ClientError):
                    outcome = None
                took = time.monotonic() - now
                if now < measure_from:
                    continue
                if outcome is None or outcome == RATE_LIMITED:
                    result.errors += 1
                    result.rate_limited += outcome == RATE_LIMITED
                else:
                    result.latencies.append(took)
                    result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1

    async def mark() -> None:
        await asyncio.sleep(warmup)
        if on_measure is not None:
            on_measure()

    await asyncio.gather(mark(), *(loop(i) for i in range(connections)))
    return result
