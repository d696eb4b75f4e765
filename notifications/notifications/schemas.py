"""The notifications service's RPC schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from chassis.contracts.paging import Page


class NotificationsPage(Page):
    user_id = fields.Int(required=True, strict=True, validate=validate.Range(min=1))


class Notification(Schema):
    id = fields.Int(required=True)
    user_id = fields.Int(required=True)
    kind = fields.Str(required=True)
    subject = fields.Str(required=True)
    body = fields.Str(required=True)
    created_at = fields.DateTime(required=True, format="iso")
