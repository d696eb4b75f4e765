"""Payments against a provider that keeps its idempotency keys the way real ones do: a key seen
before gets the first answer again, whatever the call."""

import threading
import uuid

import pytest
from nameko.testing.services import entrypoint_hook

from payments.domain import Outcome
from payments.service import PaymentsService


class KeyedProvider:
    """As Stripe: the first answer under a key is the answer to every later call with it."""

    lock = threading.Lock()
    answers: dict[str, object] = {}
    charged: list[str] = []
    refunded: list[str] = []

    def __init__(self, config):
        pass

    def _once(self, key, do):
        with self.lock:
            if key not in self.answers:
                self.answers[key] = do()
            return self.answers[key]

    def charge(self, key, amount_cents, token):
        def do():
            self.charged.append(key)
            return Outcome(approved=True, provider_ref=f"ch_{uuid.uuid4().hex[:12]}")

        return self._once(key, do)

    def refund(self, key, provider_ref, amount_cents):
        def do():
            self.refunded.append(provider_ref)
            return None

        answer = self._once(key, do)
        if answer is not None:
            raise AssertionError("the provider answered this refund with another call's reply")


@pytest.fixture
def payments(container_factory, service_config):
    config = {**service_config, "PAYMENT_PROVIDER": f"{__name__}.KeyedProvider"}
    container = container_factory(PaymentsService, config)
    container.start()
    return container


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as hook:
        return hook(*args, **kwargs)


def test_a_refund_is_not_taken_for_the_charge_at_the_provider(payments):
    order_id = str(uuid.uuid4())
    charged = call(payments, "charge", order_id, 1500, "tok_visa", user_id=7)
    assert charged["status"] == "approved"
    refunded = call(payments, "refund", order_id)
    assert refunded["status"] == "refunded"
    assert charged["provider_ref"] in KeyedProvider.refunded  # the money went back
    assert KeyedProvider.charged.count(f"{order_id}:charge") == 1


def test_a_charge_repeated_is_one_charge_at_the_provider(payments):
    order_id = str(uuid.uuid4())
    first = call(payments, "charge", order_id, 900, "tok_visa", user_id=7)
    again = call(payments, "charge", order_id, 900, "tok_visa", user_id=7)
    assert again == first
    assert KeyedProvider.charged.count(f"{order_id}:charge") == 1
