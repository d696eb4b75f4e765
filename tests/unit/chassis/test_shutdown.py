"""GracefulShutdown in a container of this process, sent a real SIGTERM, with the handler
`nameko run` installs (spawn the container's stop) in place, as it is before services start."""

import logging
import os
import signal
import time

import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.testing.services import dummy, entrypoint_hook

from chassis import shutdown
from chassis.shutdown import GracefulShutdown


class Service:
    name = "svc"

    shutdown = GracefulShutdown()

    @dummy
    def slow(self, seconds):
        eventlet.sleep(seconds)
        return "done"


@pytest.fixture
def exits(monkeypatch):
    """The statuses the process was told to exit with (it is not: this is the test runner)."""
    statuses = []
    monkeypatch.setattr(shutdown, "exit_now", statuses.append)
    return statuses


@pytest.fixture
def sigterm_stops():
    """Installs nameko's SIGTERM handler; yields a function starting the container it stops."""
    containers = []
    calls = []

    def nameko_handler(signum, frame):  # nameko.cli.run's, which must still run
        calls.append(signum)
        for container in containers:
            eventlet.spawn_n(container.stop)

    previous = signal.signal(signal.SIGTERM, nameko_handler)

    def start(config):
        container = ServiceContainer(Service, config)
        containers.append(container)
        container.start()
        return container

    start.calls = calls
    start.handler = nameko_handler
    yield start
    for container in containers:
        container.kill()
    signal.signal(signal.SIGTERM, previous)


def call_slow(container, seconds):
    def call():
        with entrypoint_hook(container, "slow") as hook:
            return hook(seconds)

    worker = eventlet.spawn(call)
    eventlet.sleep(0.05)  # the worker is running
    return worker


def messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "chassis.shutdown"]


def test_work_in_flight_finishes_and_nameko_stops_the_service(sigterm_stops, exits, caplog):
    caplog.set_level(logging.INFO, logger="chassis.shutdown")
    container = sigterm_stops({"SHUTDOWN_TIMEOUT": 2})
    worker = call_slow(container, 0.3)

    os.kill(os.getpid(), signal.SIGTERM)
    assert worker.wait() == "done"
    with eventlet.Timeout(2):
        container.wait()
    eventlet.sleep(0.1)

    assert sigterm_stops.calls == [signal.SIGTERM]  # nameko's own handler ran
    assert exits == []
    started, finished = messages(caplog)
    assert "stopping within 2 s; 1 worker(s) in flight: svc.slow (running" in started
    assert "no worker left" in finished
    assert signal.getsignal(signal.SIGTERM) == sigterm_stops.handler  # given back on stop


def test_past_the_bound_it_names_the_work_it_cuts_off_and_exits_1(sigterm_stops, exits, caplog):
    container = sigterm_stops({"SHUTDOWN_TIMEOUT": "0.2"})  # a string, as YAML may give it
    call_slow(container, 30)

    os.kill(os.getpid(), signal.SIGTERM)
    sent = time.monotonic()
    while not exits and time.monotonic() - sent < 5:
        eventlet.sleep(0.01)

    assert exits == [1]
    assert 0.2 <= time.monotonic() - sent < 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "SHUTDOWN_TIMEOUT of 0.2 s reached; cutting off 1 worker(s): svc.slow" in errors[0]
    assert "exiting with status 1" in errors[0]


def test_work_started_after_the_signal_does_not_extend_the_bound(sigterm_stops, exits):
    container = sigterm_stops({"SHUTDOWN_TIMEOUT": 0.5})
    call_slow(container, 30)
    os.kill(os.getpid(), signal.SIGTERM)
    eventlet.sleep(0.3)
    call_slow(container, 30)  # one more worker started meanwhile gets only what is left
    eventlet.sleep(0.35)
    assert exits == [1]


def test_without_a_python_sigterm_handler_it_installs_nothing(exits):
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        container = ServiceContainer(Service, {})
        container.start()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        with entrypoint_hook(container, "slow") as hook:
            assert hook(0) == "done"
        container.stop()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_signal_wakeup_fd_is_given_back_when_the_container_stops(sigterm_stops):
    container = sigterm_stops({})
    eventlet.sleep(0)  # its wakeup thread runs
    ours = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(ours)
    assert ours != -1
    container.stop()
    assert signal.set_wakeup_fd(-1) == -1
