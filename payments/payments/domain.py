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
