"""What the HTTP API answers, as marshmallow schemas, for the OpenAPI document alone.

The gateway passes the services' dicts through as they are; the shared contracts describe
them (``chassis.contracts``). Here are only the gateway's own answers, and the pages of the
lists whose envelope no contract names.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from chassis.contracts.notifications import Notification
from chassis.contracts.paging import page_of
from chassis.contracts.products import Product


class Error(Schema):
    error = fields.Str(required=True, metadata={"description": "A stable code to branch on."})
    message = fields.Str(required=True, metadata={"description": "For people, not programs."})
    fields_ = fields.Dict(
        keys=fields.Str(),
        required=True,
        data_key="fields",
        metadata={"description": "Messages per bad field (nested for nested input); often {}."},
    )


class Token(Schema):
    access_token = fields.Str(required=True, metadata={"description": "An HS256 JWT."})
    token_type = fields.Str(required=True, validate=validate.OneOf(["bearer"]))
    expires_in = fields.Int(required=True, metadata={"description": "Seconds."})


class Health(Schema):
    status = fields.Str(required=True, validate=validate.OneOf(["ok"]))


# Made once each: two classes of one name would be two components of one name.
ProductPage = page_of(Product)
NotificationPage = page_of(Notification)
