import threading
import time

import pybreaker
import pytest

from chassis.resilience import Breaker, CallTimeout, within


def test_calls_through_one_breaker_run_side_by_side():
    breaker = Breaker(fail_max=3, reset_timeout=1)
    finished = []

    def slow():
        time.sleep(0.2)
        finished.append(time.monotonic())

    started = time.monotonic()
    callers = [threading.Thread(target=breaker.call, args=(slow,)) for _ in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(finished) == 4
    assert time.monotonic() - started < 0.6  # one after the other would take 0.8 s


def test_failures_open_the_breaker_and_a_success_closes_it():
    breaker = Breaker(fail_max=2, reset_timeout=0.2, throw_new_error_on_trip=False)
    calls = []

    def down():
        calls.append("down")
        raise ConnectionError("refused")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(down)
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(down)
    assert calls == ["down", "down"]  # the open breaker did not even try
    time.sleep(0.25)
    assert breaker.call(lambda: "up") == "up"
    assert breaker.current_state == pybreaker.STATE_CLOSED


def test_an_excluded_error_is_an_answer_not_a_failure():
    breaker = Breaker(fail_max=1, reset_timeout=10, exclude=[KeyError])
    for _ in range(3):
        with pytest.raises(KeyError):
            breaker.call(lambda: {}["missing"])
    assert breaker.current_state == pybreaker.STATE_CLOSED


def test_within_bounds_a_call():
    with pytest.raises(CallTimeout, match="within 0.05s"):
        within(0.05, time.sleep, 1)
    assert within(1, lambda: "in time") == "in time"
