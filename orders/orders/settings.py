from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrdersSettings:
    """Read from ``config.yaml`` (the key is the name in capitals), these defaults otherwise."""

    # How long create_order and cancel_order drive the saga before answering (the gateway
    # waits 5 s): past it, the order is answered as it stands and the recovery loop finishes.
    saga_sync_budget: float = 3.0
    # The bound on each call to products or payments.
    saga_call_timeout: float = 5.0
    # How long a driver's claim on an unfinished order lasts.
    saga_lease: float = 15.0
    # An order not confirmed this many seconds after it was placed is cancelled ("expired").
    saga_deadline: float = 120.0
