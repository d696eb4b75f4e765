"""Graceful shutdown, with a bound: on SIGTERM a service takes no new work, lets the work in
flight finish for at most ``SHUTDOWN_TIMEOUT`` seconds, and says what it had to cut off.

``nameko run`` answers SIGTERM by stopping its service runner: entrypoints stop consuming, the
workers in flight are waited for, then the dependencies (outbox relay, mailer...) and the timers
stop. That wait has no bound: one worker stuck on an unreachable peer keeps the process alive
until the orchestrator's SIGKILL, which says nothing of what was lost. ``GracefulShutdown``
keeps nameko's stop as it is (each SIGTERM still goes to nameko's own handler) and watches it:

* when the stop starts, it logs the workers in flight; when they have all finished, it says so,
  and the process exits 0 as ``nameko run`` always does;
* if the service has not stopped ``SHUTDOWN_TIMEOUT`` seconds (service config, default 20)
  after the SIGTERM — a worker still running, or a dependency or timer still stopping — it
  logs every worker it cuts off and ends the process at once with exit status 1. Their
  messages, never acknowledged, go back to their queues, and PostgreSQL rolls back their
  transactions when the connections close: what a crash does, which every consumer here is
  built to survive.

Declare it in a service next to the others: ``shutdown = GracefulShutdown()``.

Where SIGTERM is not handled by Python code (its default action ends the process at once, as
under pytest), there is no graceful stop to bound, and it installs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import eventlet
from eventlet.hubs import trampoline
from nameko.extensions import DependencyProvider

from chassis.config import setting
from chassis.logs import REQUEST_ID, valid_request_id

_log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 20.0
EXIT_CUT_OFF = 1  # the exit status when the bound was reached

Handler = Callable[[int, Any], Any]


class GracefulShutdown(DependencyProvider):
    """Bounds ``nameko run``'s graceful stop on SIGTERM by ``SHUTDOWN_TIMEOUT`` seconds."""

    def setup(self) -> None:
        self.timeout = setting(self.container.config, "SHUTDOWN_TIMEOUT", DEFAULT_TIMEOUT)
        self._in_flight: dict[Any, float] = {}  # worker context -> when it started
        self._since: float | None = None  # when SIGTERM arrived
        self._previous: Handler | None = None
        previous = signal.getsignal(signal.SIGTERM)
        if callable(previous):  # `nameko run` installs its handler before starting services
            self._previous = previous
            signal.signal(signal.SIGTERM, self._on_sigterm)

    def start(self) -> None:
        if self._previous is not None:
            wakeup = SignalWakeup()
            self.container.spawn_managed_thread(wakeup.run, identifier="signal-wakeup")

    def stop(self) -> None:
        # nameko stops dependencies once every worker has finished.
        if self._since is not None:
            _log.info(
                "shutdown: no worker left %.1f s after SIGTERM; stopping dependencies",
                time.monotonic() - self._since,
            )
        self._restore()

    def kill(self) -> None:
        self._restore()

    def worker_setup(self, worker_ctx: Any) -> None:
        self._in_flight[worker_ctx] = time.monotonic()

    def worker_teardown(self, worker_ctx: Any) -> None:
        self._in_flight.pop(worker_ctx, None)

    def in_flight(self) -> list[str]:
        """The workers running now, each as ``service.method (request_id …, running … s)``."""
        now = time.monotonic()
        described = []
        for worker_ctx, started in list(self._in_flight.items()):
            name = f"{worker_ctx.service_name}.{worker_ctx.entrypoint.method_name}"
            request_id = valid_request_id(worker_ctx.data.get(REQUEST_ID))
            about = f"request_id {request_id}, " if request_id else ""
            described.append(f"{name} ({about}running {now - started:.1f} s)")
        return described

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        # Runs in the main loop, between two bytecodes of whatever green thread was running:
        # no logging here (its lock may be held right there) and no waiting on eventlet, only
        # scheduling, as nameko's own handler does.
        if self._since is None:
            self._since = time.monotonic()
            eventlet.spawn_n(self._watch, self._since + self.timeout)
        if self._previous is not None:
            self._previous(signum, frame)

    def _watch(self, deadline: float) -> None:
        workers = self.in_flight()
        _log.info(
            "shutdown: SIGTERM received; taking no new work, stopping within %s s; %s",
            f"{self.timeout:g}",
            f"{len(workers)} worker(s) in flight: {'; '.join(workers)}"
            if workers
            else "no worker in flight",
        )
        with eventlet.Timeout(max(deadline - time.monotonic(), 0), False):
            with contextlib.suppress(Exception):  # it died of an error, which nameko reports
                self.container.wait()
            return
        self._cut_off()

    def _cut_off(self) -> None:
        workers = self.in_flight()
        _log.error(
            "shutdown: SHUTDOWN_TIMEOUT of %s s reached; cutting off %s; exiting with status %d",
            f"{self.timeout:g}",
            f"{len(workers)} worker(s): {'; '.join(workers)}"
            if workers
            else "the service's own stopping (no worker was in flight)",
            EXIT_CUT_OFF,
        )
        exit_now(EXIT_CUT_OFF)

    def _restore(self) -> None:
        if self._previous is not None and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._previous)


class SignalWakeup:
    """Wakes the event loop as soon as a signal arrives.

    A Python signal handler that only schedules work (as nameko's and ours do) leaves it to the
    event loop, which runs it when it next wakes for some other reason: up to a second later
    (kombu polls the broker every second), a second in which the service still takes new work.
    Python writes the number of each signal it catches to its "wakeup fd": a pipe the loop
    watches here.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
        self._previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)

    def run(self) -> None:
        try:
            while True:
                trampoline(self._read, read=True)
                with contextlib.suppress(BlockingIOError):
                    os.read(self._read, 64)
        finally:  # killed once the container has stopped
            current = signal.set_wakeup_fd(self._previous)
            if current != self._write:  # someone else's since: left to its owner
                signal.set_wakeup_fd(current)
            os.close(self._read)
            os.close(self._write)


def exit_now(status: int) -> None:
    """End the process without waiting on anything more: waiting is what the bound cut short."""
    logging.shutdown()  # flushes every handler first
    os._exit(status)
