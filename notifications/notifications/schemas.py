"""The notifications service's RPC schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_PAGE = 100


class NotificationsPage(Schema):
    user_id = fields.Int(required=True, strict=True, validate=validate.Range(min=1))
    offset = fields.Int(load_default=0, strict=True, validate=validate.Range(min=0, max=10**9))
    limit = fields.Int(load_default=20, strict=True, validate=validate.Range(min=1, max=MAX_PAGE))


class Notification(Schema):
    id = fields.Int(required=True)
    user_id = fields.Int(required=True)
    kind = fields.Str(required=True)
    subject = fields.Str(required=True)
    body = fields.Str(required=True)
    created_at = fields.DateTime(required=True, format="iso")
