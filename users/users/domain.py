"""Account rules, as plain Python."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


def normalize_email(email: str) -> str:
    """Addresses are compared case-insensitively and without surrounding blanks."""
    return email.strip().lower()


class Passwords:
    """Argon2id hashing, with a constant-cost answer for unknown accounts."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # Verifying against this when the email is unknown takes as long as a real check,
        # so response times do not reveal which emails have accounts.
        self._dummy_hash = self._hasher.hash("not-a-real-password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            matched = self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None
