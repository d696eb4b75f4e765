import time

import pytest

from payments.domain import Outcome, ProviderError
from payments.provider import RetryingProvider, SimulatedProvider


def test_the_simulated_provider_answers_by_token():
    provider = SimulatedProvider({})
    approved = provider.charge("order-1", 100, "tok_visa")
    assert approved.approved and approved.provider_ref.startswith("ch_")
    assert provider.charge("order-1", 100, "tok_visa") == approved  # same key, same charge
    assert provider.charge("order-1", 100, "tok_decline_stolen") == Outcome(
        approved=False, reason="card_declined"
    )
    with pytest.raises(ProviderError):
        provider.charge("order-1", 100, "tok_fail")


class Flaky:
    def __init__(self, failures):
        self.failures = failures
        self.calls = 0

    def charge(self, key, amount_cents, token):
        self.calls += 1
        if self.calls <= self.failures:
            raise ProviderError("try again")
        return Outcome(approved=True, provider_ref="ch_1")

    def refund(self, key, provider_ref, amount_cents):
        self.calls += 1
        raise ProviderError("down")


def test_provider_errors_are_retried_then_given_up():
    flaky = Flaky(failures=2)
    assert RetryingProvider(flaky, attempts=3, backoff=0).charge("o", 1, "t").approved
    assert flaky.calls == 3
    down = Flaky(failures=10)
    with pytest.raises(ProviderError):
        RetryingProvider(down, attempts=3, backoff=0).charge("o", 1, "t")
    assert down.calls == 3
    with pytest.raises(ProviderError):
        RetryingProvider(down, attempts=2, backoff=0).refund("o", "ch_1", 1)


def test_a_decline_is_an_answer_not_an_error():
    calls = []

    class Declines:
        def charge(self, key, amount_cents, token):
            calls.append(key)
            return Outcome(approved=False, reason="card_declined")

    assert not RetryingProvider(Declines(), attempts=3, backoff=0).charge("o", 1, "t").approved
    assert calls == ["o"]


def test_a_slow_token_is_approved_after_the_configured_delay():
    provider = SimulatedProvider({"PAYMENT_PROVIDER_SLOW_SECONDS": "0.2"})
    started = time.monotonic()
    outcome = provider.charge("order-1", 100, "tok_slow_3ds")
    assert time.monotonic() - started >= 0.2
    assert outcome == provider.charge("order-1", 100, "tok_visa")  # approved, same charge
