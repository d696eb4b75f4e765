"""Payment rules, free of I/O: the states of a payment and what a provider may answer."""

from __future__ import annotations

from dataclasses import dataclass

PROCESSING = "processing"  # only ever seen inside the transaction that talks to the provider
APPROVED = "approved"
DECLINED = "declined"
FAILED = "failed"  # the provider kept erroring: nobody was charged
REFUNDED = "refunded"
VOIDED = "voided"  # refunded before any charge: a charge arriving later is refused
STATUSES = (PROCESSING, APPROVED, DECLINED, FAILED, REFUNDED, VOIDED)


@dataclass(frozen=True)
class Outcome:
    """A provider's answer to a charge."""

    approved: bool
    provider_ref: str | None = None
    reason: str | None = None


class ProviderError(Exception):
    """The provider could not answer (network, 5xx): the call may be tried again."""


# What is done to an order's payment at the provider; each has an idempotency key of its own.
CHARGE = "charge"
REFUND = "refund"


def provider_key(order_id: str, operation: str) -> str:
    """The idempotency key of ``operation`` on ``order_id``'s payment at the provider: the same
    for every retry of that operation, another for each operation."""
    return f"{order_id}:{operation}"
