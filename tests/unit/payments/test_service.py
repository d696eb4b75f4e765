import pytest
from nameko.testing.services import worker_factory

from chassis.contracts.events import PAYMENT_SUCCEEDED
from chassis.errors import InvalidInput
from chassis.testing import FakeStore
from payments.domain import APPROVED, Outcome
from payments.exceptions import AmountMismatch
from payments.service import PaymentsService
from tests.unit.payments.fakes import InMemoryPayments


def test_charge_refuses_bad_input_before_touching_anything():
    service = worker_factory(PaymentsService, store=FakeStore(InMemoryPayments()))
    with pytest.raises(InvalidInput) as caught:
        service.charge("", -1, "   ", user_id="x")
    assert set(caught.value.fields) == {"order_id", "amount_cents", "payment_token", "user_id"}
    assert service.store.transactions == 0
    assert not service.provider.charge.called


def test_refund_and_lookup_need_an_order_id():
    service = worker_factory(PaymentsService, store=FakeStore(InMemoryPayments()))
    for method in (service.refund, service.get_payment):
        with pytest.raises(InvalidInput) as caught:
            method(None)
        assert set(caught.value.fields) == {"order_id"}


def test_an_approved_charge_commits_with_its_event_and_is_made_once():
    payments = InMemoryPayments()
    service = worker_factory(PaymentsService, store=FakeStore(payments))
    service.provider.charge.return_value = Outcome(approved=True, provider_ref="ref-1")
    assert service.charge("o-1", 500, "tok_visa", user_id=7)["status"] == APPROVED
    service.provider.charge.assert_called_once_with("o-1:charge", 500, "tok_visa")
    service.outbox.add.assert_called_once_with(
        payments.session,
        PAYMENT_SUCCEEDED,
        provider_ref="ref-1",
        order_id="o-1",
        user_id=7,
        amount_cents=500,
    )
    with pytest.raises(AmountMismatch):
        service.charge("o-1", 600, "tok_visa", user_id=7)
    assert service.provider.charge.call_count == 1
