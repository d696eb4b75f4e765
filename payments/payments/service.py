from __future__ import annotations

from typing import Any

from chassis import base
from chassis.contracts.events import (
    PAYMENT_DECLINED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PAYMENT_SUCCEEDED,
)
from chassis.outbox import Outbox
from chassis.rpc import rpc
from chassis.schemas import dump, load
from chassis.store import Store, Transactions
from payments import schemas
from payments.domain import (
    APPROVED,
    CHARGE,
    DECLINED,
    FAILED,
    PROCESSING,
    REFUND,
    REFUNDED,
    VOIDED,
    ProviderError,
    provider_key,
)
from payments.exceptions import AmountMismatch, PaymentNotFound, ProviderUnavailable
from payments.models import Base, Payment
from payments.provider import PaymentProvider
from payments.repository import PaymentsRepository


class PaymentsService(base.ServiceBase):
    """Charges and refunds, each at most once per order.

    The payment row is the lock: a charge inserts it (or finds it) and holds it ``FOR UPDATE``
    while it talks to the provider, so two concurrent charges for one order make one provider
    call, and a refund waits for a charge in flight. A crash mid-way rolls the row back; the
    retried call reaches the provider with the same idempotency key: one per operation on an
    order (``domain.provider_key``), so that a provider that answers a key it has seen with its
    first answer (as Stripe does) never answers a refund with the charge's reply.
    """

    name = "payments"

    store: Transactions[PaymentsRepository] = Store(Base, PaymentsRepository)
    outbox = Outbox(Base)
    provider = PaymentProvider()

    @rpc
    def charge(
        self, order_id: str, amount_cents: int, payment_token: str, user_id: int | None = None
    ) -> dict[str, Any]:
        data = load(
            schemas.Charge,
            {
                "order_id": order_id,
                "amount_cents": amount_cents,
                "payment_token": payment_token,
                "user_id": user_id,
            },
        )
        with self.store.transaction() as payments:
            payment = payments.claim(
                data["order_id"], PROCESSING, data["amount_cents"], data["user_id"]
            )
            if data["user_id"] is not None and payment.user_id not in (None, data["user_id"]):
                raise _not_found(payment.order_id)  # another user's payment for this order
            if payment.status != PROCESSING:
                # Decided before (a repeated call), or voided by a refund that came first.
                if payment.status == APPROVED and payment.amount_cents != data["amount_cents"]:
                    raise AmountMismatch(
                        f"Order {payment.order_id} was charged another amount",
                        {"amount_cents": [f"Charged {payment.amount_cents} already."]},
                    )
                return _dump(payment)
            common = {
                "order_id": payment.order_id,
                "user_id": payment.user_id,
                "amount_cents": payment.amount_cents,
            }
            try:
                outcome = self.provider.charge(
                    provider_key(payment.order_id, CHARGE),
                    payment.amount_cents,
                    data["payment_token"],
                )
            except ProviderError as exc:
                payment.status, payment.reason = FAILED, str(exc)[:200]
                self.outbox.add(payments.session, PAYMENT_FAILED, reason=payment.reason, **common)
            else:
                if outcome.approved:
                    payment.status, payment.provider_ref = APPROVED, outcome.provider_ref
                    self.outbox.add(
                        payments.session,
                        PAYMENT_SUCCEEDED,
                        provider_ref=outcome.provider_ref,
                        **common,
                    )
                else:
                    payment.status, payment.reason = DECLINED, outcome.reason
                    self.outbox.add(
                        payments.session, PAYMENT_DECLINED, reason=outcome.reason, **common
                    )
            return _dump(payment)

    @rpc
    def refund(self, order_id: str, user_id: int | None = None) -> dict[str, Any]:
        """Give an approved charge back. Idempotent. Refunding an order that was never charged
        records it as ``voided``, so that a charge arriving late for it is refused.

        With ``user_id`` (a caller acting for a user), only that user's existing payment is
        refunded: another user's, or none, is ``PaymentNotFound`` and nothing is recorded."""
        ref = load(schemas.PaymentRef, {"order_id": order_id, "user_id": user_id})
        order_id = ref["order_id"]
        with self.store.transaction() as payments:
            if ref["user_id"] is not None:
                _owned(payments.get(order_id, lock=True), ref)
            payment = payments.claim(order_id, VOIDED, amount_cents=0)
            if payment.status == APPROVED:
                try:
                    self.provider.refund(
                        provider_key(order_id, REFUND), payment.provider_ref, payment.amount_cents
                    )
                except ProviderError as exc:
                    raise ProviderUnavailable(f"Refund of {order_id} failed: {exc}") from None
                payment.status = REFUNDED
                self.outbox.add(
                    payments.session,
                    PAYMENT_REFUNDED,
                    order_id=payment.order_id,
                    user_id=payment.user_id,
                    amount_cents=payment.amount_cents,
                )
            return _dump(payment)

    @rpc
    def get_payment(self, order_id: str, user_id: int | None = None) -> dict[str, Any]:
        """The order's payment; with ``user_id``, only if it is that user's."""
        ref = load(schemas.PaymentRef, {"order_id": order_id, "user_id": user_id})
        with self.store.transaction() as payments:
            return _dump(_owned(payments.get(ref["order_id"]), ref))


def _owned(payment: Payment | None, ref: dict[str, Any]) -> Payment:
    """``payment``, when it is there for ``ref``. With ``ref["user_id"]``, someone else's
    payment (or one whose owner is unknown) is reported exactly like a missing one."""
    if payment is None or ref["user_id"] not in (None, payment.user_id):
        raise _not_found(ref["order_id"])
    return payment


def _not_found(order_id: str) -> PaymentNotFound:
    return PaymentNotFound(f"No payment for order {order_id}", {"order_id": ["Not found."]})


def _dump(payment: Payment) -> dict[str, Any]:
    return dump(schemas.Payment, payment)
