"""What the app factory wires, as seen from a request."""

from __future__ import annotations

from flask import current_app

from gateway.breakers import GuardedRpc
from gateway.config import Settings
from gateway.idempotency import IdempotencyStore
from gateway.logins import LoginGuard


def rpc() -> GuardedRpc:
    return current_app.extensions["rpc"]


def settings() -> Settings:
    return current_app.extensions["settings"]


def idempotency() -> IdempotencyStore:
    return current_app.extensions["idempotency"]


def logins() -> LoginGuard:
    return current_app.extensions["logins"]
