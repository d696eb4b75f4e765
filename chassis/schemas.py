"""Validation at the boundary: marshmallow errors become ``InvalidInput`` naming the fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError

from chassis.errors import InvalidInput


def load(schema: Schema, data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate ``data`` with ``schema`` or raise ``InvalidInput`` with per-field messages."""
    if not isinstance(data, Mapping):
        raise InvalidInput("Expected an object", {"_schema": ["Expected an object."]})
    try:
        return schema.load(data, partial=partial)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise InvalidInput("Invalid input", messages) from None
