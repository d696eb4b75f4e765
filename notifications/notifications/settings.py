from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NotificationsSettings:
    """Read from ``config.yaml`` (the key is the name in capitals), these defaults otherwise."""

    # Tries per notification before it is marked failed (a 5xx refusal fails it at once).
    mail_max_attempts: int = 10
    # The bound on asking users for a recipient's address.
    users_rpc_timeout: float = 5.0
