"""Payment providers, behind one small interface, and the dependency that picks one.

A real provider (Stripe, Adyen...) takes an idempotency key with each call; so does this
interface. The service passes one per operation on an order (``<order id>:charge``,
``<order id>:refund``): a charge retried after a crash is the same charge at the provider, and
a refund is never mistaken for it.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import time
from typing import Any, Protocol

from nameko.extensions import DependencyProvider
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from chassis.config import setting
from payments.domain import Outcome, ProviderError

_log = logging.getLogger(__name__)


class Provider(Protocol):
    def charge(self, key: str, amount_cents: int, token: str) -> Outcome: ...

    def refund(self, key: str, provider_ref: str, amount_cents: int) -> None: ...


class SimulatedProvider:
    """Tokens starting ``tok_decline`` are declined, ``tok_fail`` make the provider error,
    ``tok_slow`` are approved after ``PAYMENT_PROVIDER_SLOW_SECONDS`` (default 2), as a provider
    under load answers; anything else is approved at once."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.slow_seconds = setting(config, "PAYMENT_PROVIDER_SLOW_SECONDS", 2.0)

    def charge(self, key: str, amount_cents: int, token: str) -> Outcome:
        if token.startswith("tok_slow"):
            time.sleep(self.slow_seconds)  # green under `nameko run`: other workers go on
        if token.startswith("tok_fail"):
            raise ProviderError("simulated provider error")
        if token.startswith("tok_decline"):
            return Outcome(approved=False, reason="card_declined")
        return Outcome(approved=True, provider_ref=_reference("ch", key))

    def refund(self, key: str, provider_ref: str, amount_cents: int) -> None:
        return None


def _reference(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class RetryingProvider:
    """Retries ``ProviderError`` with exponential backoff; other errors pass straight through."""

    def __init__(self, provider: Provider, attempts: int, backoff: float) -> None:
        self._provider = provider
        self._attempts = attempts
        self._backoff = backoff

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=2.0),
            retry=retry_if_exception_type(ProviderError),
            before_sleep=lambda state: _log.warning(
                "payment provider: %s (attempt %d)",
                state.outcome.exception() if state.outcome else None,
                state.attempt_number,
            ),
            reraise=True,
        )

    def charge(self, key: str, amount_cents: int, token: str) -> Outcome:
        return self._retrying()(self._provider.charge, key, amount_cents, token)

    def refund(self, key: str, provider_ref: str, amount_cents: int) -> None:
        self._retrying()(self._provider.refund, key, provider_ref, amount_cents)


class PaymentProvider(DependencyProvider):
    """Settings: ``PAYMENT_PROVIDER`` (dotted class path), ``PAYMENT_PROVIDER_ATTEMPTS``,
    ``PAYMENT_PROVIDER_BACKOFF`` (seconds before the first retry)."""

    def setup(self) -> None:
        config = self.container.config
        path = config.get("PAYMENT_PROVIDER") or "payments.provider.SimulatedProvider"
        module, _, name = path.rpartition(".")
        provider = getattr(importlib.import_module(module), name)(config)
        self.provider = RetryingProvider(
            provider,
            attempts=setting(config, "PAYMENT_PROVIDER_ATTEMPTS", 3),
            backoff=setting(config, "PAYMENT_PROVIDER_BACKOFF", 0.1),
        )

    def get_dependency(self, worker_ctx: Any) -> RetryingProvider:
        return self.provider
