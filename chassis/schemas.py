"""Validation at the boundary: marshmallow errors become ``InvalidInput`` naming the fields."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError

from chassis.errors import InvalidInput


@functools.cache
def instance(schema: type[Schema], many: bool = False) -> Schema:
    """One instance per schema class: building a marshmallow schema costs more than using it,
    and an instance keeps no state between calls."""
    return schema(many=many)


def dump(schema: type[Schema], obj: Any, *, many: bool = False) -> Any:
    return instance(schema, many).dump(obj)


def load(schema: Schema | type[Schema], data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate ``data`` with ``schema`` or raise ``InvalidInput`` with per-field messages."""
    if isinstance(schema, type):
        schema = instance(schema)
    if not isinstance(data, Mapping):
        raise InvalidInput("Expected an object", {"_schema": ["Expected an object."]})
    try:
        return schema.load(data, partial=partial)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise InvalidInput("Invalid input", messages) from None
