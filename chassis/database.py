"""Helpers around the services' PostgreSQL databases."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE for a duplicate key


def is_unique_violation(exc: IntegrityError) -> bool:
    """True when ``exc`` is a duplicate key, as opposed to another broken constraint."""
    return getattr(exc.orig, "pgcode", None) == UNIQUE_VIOLATION
