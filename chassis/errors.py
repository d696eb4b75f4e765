"""The error types that cross RPC.

A service raises only its own exceptions, each a subclass of one of these. Nameko sends a
remote exception as its dotted path plus its ``args``; keeping ``args`` to ``(message, fields)``
— both JSON-safe — lets the gateway rebuild them and answer with the field names intact.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message, fields or {})

    @property
    def message(self) -> str:
        return str(self.args[0])

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.args[1])

    def __str__(self) -> str:
        return self.message


class InvalidInput(ServiceError):
    """The call's arguments failed validation; ``fields`` names each bad field."""


class NotFound(ServiceError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class Conflict(ServiceError):
    """The request contradicts the current state (a duplicate, not enough stock...)."""


class Unauthorized(ServiceError):
    """Credentials were wrong."""
