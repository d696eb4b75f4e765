"""An in-memory stand-in for ``PaymentsRepository``."""

from __future__ import annotations

from payments.models import Payment


class InMemoryPayments:
    def __init__(self, *payments: Payment) -> None:
        self.session = object()
        self.rows = {payment.order_id: payment for payment in payments}

    def claim(
        self, order_id: str, status: str, amount_cents: int, user_id: int | None = None
    ) -> Payment:
        if order_id not in self.rows:
            self.rows[order_id] = Payment(
                order_id=order_id, user_id=user_id, amount_cents=amount_cents, status=status
            )
        return self.rows[order_id]

    def get(self, order_id: str, *, lock: bool = False) -> Payment | None:
        return self.rows.get(order_id)
