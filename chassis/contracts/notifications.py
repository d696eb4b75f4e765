"""What the notifications service answers about a notification: its RPC replies, which the
gateway passes through and documents."""

from __future__ import annotations

from marshmallow import Schema, fields


class Notification(Schema):
    id = fields.Int(required=True)
    user_id = fields.Int(required=True)
    kind = fields.Str(required=True)
    subject = fields.Str(required=True)
    body = fields.Str(required=True)
    created_at = fields.DateTime(required=True, format="iso")
