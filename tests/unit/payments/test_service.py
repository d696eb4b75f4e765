import pytest
from nameko.testing.services import worker_factory

from chassis.errors import InvalidInput
from payments.service import PaymentsService


def test_charge_refuses_bad_input_before_touching_anything():
    service = worker_factory(PaymentsService)
    with pytest.raises(InvalidInput) as caught:
        service.charge("", -1, "   ", user_id="x")
    assert set(caught.value.fields) == {"order_id", "amount_cents", "payment_token", "user_id"}
    assert not service.db.get_session.called
    assert not service.provider.charge.called


def test_refund_and_lookup_need_an_order_id():
    service = worker_factory(PaymentsService)
    for method in (service.refund, service.get_payment):
        with pytest.raises(InvalidInput) as caught:
            method(None)
        assert set(caught.value.fields) == {"order_id"}
