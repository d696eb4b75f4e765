"""The payments service's SQL: one payment row per order."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from chassis.store import Repository
from payments.models import Payment


class PaymentsRepository(Repository):
    def claim(
        self, order_id: str, status: str, amount_cents: int, user_id: int | None = None
    ) -> Payment:
        """The order's payment, locked; inserted with these values when there was none.

        A concurrent call for the same order waits here until the first one's transaction ends.
        """
        self.session.execute(
            insert(Payment)
            .values(order_id=order_id, user_id=user_id, amount_cents=amount_cents, status=status)
            .on_conflict_do_nothing(index_elements=[Payment.order_id])
        )
        return self.session.get_one(Payment, order_id, with_for_update=True, populate_existing=True)

    def get(self, order_id: str, *, lock: bool = False) -> Payment | None:
        """The order's payment, if any; with ``lock``, held until the transaction ends."""
        return self.session.get(Payment, order_id, with_for_update=lock or None)
