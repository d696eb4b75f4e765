"""The notifications service's RPC schemas."""

from __future__ import annotations

from marshmallow import fields, validate

from chassis.contracts.notifications import Notification
from chassis.contracts.paging import Page

__all__ = ["Notification", "NotificationsPage"]


class NotificationsPage(Page):
    user_id = fields.Int(required=True, strict=True, validate=validate.Range(min=1))
