"""Event contracts: the name and the payload schema of every event in the cluster.

Events are JSON-safe dicts, validated when dispatched and when handled. Each carries an
``event_id`` (so a consumer can drop a duplicate delivery) and ``occurred_at``. A contract
changes only by adding optional fields; consumers ignore fields they do not know.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

USER_REGISTERED = "user_registered"


class EventSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a newer producer may add fields

    event_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    occurred_at = fields.DateTime(required=True, format="iso")


class UserRegistered(EventSchema):
    user_id = fields.Int(required=True, strict=True)
    email = fields.Email(required=True)
    name = fields.Str(required=True)
    role = fields.Str(required=True)


SCHEMAS: dict[str, type[EventSchema]] = {
    USER_REGISTERED: UserRegistered,
}


def make_event(event_type: str, **payload: Any) -> dict[str, Any]:
    """Build an event payload with a fresh id, validated against its contract."""
    body = {
        "event_id": uuid.uuid4().hex,
        "occurred_at": datetime.now(UTC).isoformat(),
        **payload,
    }
    errors = SCHEMAS[event_type]().validate(body)
    if errors:
        raise ValueError(f"{event_type} breaks its contract: {errors}")
    return body
