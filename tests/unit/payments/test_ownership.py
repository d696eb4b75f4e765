"""A caller acting for a user (``user_id``) only reaches that user's payment."""

import pytest
from nameko.testing.services import worker_factory

from chassis.errors import InvalidInput
from chassis.testing import FakeStore
from payments.domain import APPROVED, VOIDED
from payments.exceptions import PaymentNotFound
from payments.models import Payment
from payments.service import PaymentsService
from tests.unit.payments.fakes import InMemoryPayments

OWNER, STRANGER = 7, 8


def service_with(payment):
    payments = InMemoryPayments(*([payment] if payment else []))
    return worker_factory(PaymentsService, store=FakeStore(payments))


def rows_of(service):
    return service.store.repository.rows


def approved(user_id=OWNER):
    return Payment(
        order_id="o-1", user_id=user_id, amount_cents=500, status=APPROVED, provider_ref="ref-1"
    )


def test_the_owner_reads_the_payment_and_a_stranger_is_told_there_is_none():
    service = service_with(approved())
    assert service.get_payment("o-1", user_id=OWNER)["user_id"] == OWNER
    with pytest.raises(PaymentNotFound) as caught:
        service.get_payment("o-1", user_id=STRANGER)
    assert caught.value.fields == {"order_id": ["Not found."]}
    assert service.get_payment("o-1")["order_id"] == "o-1"  # an internal caller, unchecked


def test_a_payment_whose_owner_is_unknown_is_nobodys_to_read():
    tombstone = Payment(order_id="o-1", user_id=None, amount_cents=0, status=VOIDED)
    with pytest.raises(PaymentNotFound):
        service_with(tombstone).get_payment("o-1", user_id=OWNER)


def test_a_stranger_cannot_refund_and_nothing_is_recorded():
    payment = approved()
    service = service_with(payment)
    with pytest.raises(PaymentNotFound):
        service.refund("o-1", user_id=STRANGER)
    assert rows_of(service) == {"o-1": payment}  # no tombstone inserted
    assert payment.status == APPROVED
    assert not service.provider.refund.called
    assert not service.outbox.add.called


def test_acting_for_a_user_never_voids_an_order_that_has_no_payment():
    service = service_with(None)
    with pytest.raises(PaymentNotFound):
        service.refund("o-2", user_id=OWNER)
    assert rows_of(service) == {}


def test_the_owner_refunds_an_approved_payment():
    service = service_with(approved())
    refunded = service.refund("o-1", user_id=OWNER)
    assert refunded["status"] == "refunded"
    service.provider.refund.assert_called_once_with("o-1:refund", "ref-1", 500)


def test_a_charge_never_answers_with_another_users_payment():
    service = service_with(approved(user_id=OWNER))
    with pytest.raises(PaymentNotFound):
        service.charge("o-1", 500, "tok_visa", user_id=STRANGER)
    assert not service.provider.charge.called
    # The owner's repeated charge still answers the payment, as before.
    assert service.charge("o-1", 500, "tok_visa", user_id=OWNER)["status"] == APPROVED


def test_a_late_charge_meets_the_voided_tombstone_whoever_it_is_for():
    tombstone = Payment(order_id="o-1", user_id=None, amount_cents=0, status=VOIDED)
    service = service_with(tombstone)
    assert service.charge("o-1", 500, "tok_visa", user_id=OWNER)["status"] == VOIDED
    assert not service.provider.charge.called


@pytest.mark.parametrize("user_id", ["7", 0, 1.5])
def test_a_malformed_user_id_is_refused_before_the_database(user_id):
    service = service_with(None)
    for method in (service.get_payment, service.refund):
        with pytest.raises(InvalidInput) as caught:
            method("o-1", user_id=user_id)
        assert set(caught.value.fields) == {"user_id"}
    assert service.store.transactions == 0
