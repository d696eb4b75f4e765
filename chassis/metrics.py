"""Prometheus metrics for a nameko service.

``Metrics`` is a dependency provider that times every worker and counts it by outcome:
RPC calls by method, events handled by type, timer runs by method. The event handler counts
retries and dead-lettered events itself (``EVENTS_RETRIED``, ``EVENTS_DEAD``), notifications
the mail it gives up on (``NOTIFICATIONS_FAILED``), and the outbox reports its backlog when scraped
(``gauge_source``). ``chassis.ops`` serves them all at ``/metrics``.

Outcomes: ``ok``; ``refused`` when the service answered with one of its own errors (bad input,
not found: an answer, not a fault); ``error`` for anything else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from chassis.errors import ServiceError

_log = logging.getLogger(__name__)

# A ``*_created`` timestamp per series doubles what a scrape carries and no panel reads it.
disable_created_metrics()

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

RPC_CALLS = Counter(
    "shop_rpc_calls_total",
    "RPC calls served, by method and outcome",
    ["service", "method", "outcome"],
)
RPC_LATENCY = Histogram(
    "shop_rpc_call_duration_seconds",
    "Time to serve an RPC call",
    ["service", "method"],
    buckets=BUCKETS,
)
EVENTS_HANDLED = Counter(
    "shop_events_handled_total",
    "Event deliveries handled, by event type and outcome (a failed one is retried or parked)",
    ["service", "event_type", "outcome"],
)
EVENT_LATENCY = Histogram(
    "shop_event_handling_duration_seconds",
    "Time to handle an event",
    ["service", "event_type"],
    buckets=BUCKETS,
)
EVENTS_RETRIED = Counter(
    "shop_events_retried_total",
    "Failed event deliveries sent to the retry queue",
    ["service", "event_type"],
)
EVENTS_DEAD = Counter(
    "shop_events_dead_lettered_total",
    "Events parked in a dead-letter queue after their last attempt",
    ["service", "event_type"],
)
TIMER_RUNS = Counter(
    "shop_timer_runs_total", "Timer runs, by method and outcome", ["service", "method", "outcome"]
)
NOTIFICATIONS_FAILED = Counter(
    "shop_notifications_failed_total",
    "Notifications given up on, by kind and reason (rejected, attempts_exhausted)",
    ["service", "kind", "reason"],
)

OK, REFUSED, ERROR = "ok", "refused", "error"


def outcome(exc_info: Any) -> str:
    if exc_info is None:
        return OK
    return REFUSED if isinstance(exc_info[1], ServiceError) else ERROR


class Metrics(DependencyProvider):
    """Counts and times each worker of the service it is declared on (``metrics = Metrics()``)."""

    def setup(self) -> None:
        self._started: WeakKeyDictionary[Any, float] = WeakKeyDictionary()

    def worker_setup(self, worker_ctx: Any) -> None:
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        started = self._started.pop(worker_ctx, None)
        took = 0.0 if started is None else time.perf_counter() - started
        service = self.container.service_name
        entrypoint = worker_ctx.entrypoint
        result_label = outcome(exc_info)
        if isinstance(entrypoint, Rpc):
            RPC_CALLS.labels(service, entrypoint.method_name, result_label).inc()
            RPC_LATENCY.labels(service, entrypoint.method_name).observe(took)
        elif isinstance(entrypoint, EventHandler):
            event_type = entrypoint.event_type
            EVENTS_HANDLED.labels(service, event_type, result_label).inc()
            EVENT_LATENCY.labels(service, event_type).observe(took)
        elif isinstance(entrypoint, Timer):
            TIMER_RUNS.labels(service, entrypoint.method_name, result_label).inc()


# -- gauges read when scraped --------------------------------------------------------------

GaugeSource = Callable[[], Iterable[GaugeMetricFamily]]


class _Sources(Collector):
    """The gauges whose value is looked up at scrape time (a database count, say), from
    every dependency that registered a source in this process."""

    def __init__(self) -> None:
        self.sources: WeakSet[Any] = WeakSet()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for source in list(self.sources):
            try:
                for family in source.gauges():
                    # Two instances in one process (tests) add samples to one family.
                    known = families.setdefault(family.name, family)
                    if known is not family:
                        known.samples.extend(family.samples)
            except Exception as exc:  # a scrape must answer even when a source cannot
                _log.warning("metrics: %r could not report: %s", source, exc)
        return list(families.values())


_SOURCES = _Sources()
REGISTRY.register(_SOURCES)


def gauge_source(source: Any) -> None:
    """Ask ``source.gauges()`` for gauge families at every scrape, while ``source`` lives."""
    _SOURCES.sources.add(source)
