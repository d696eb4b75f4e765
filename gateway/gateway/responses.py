"""What the HTTP API answers, as marshmallow schemas, for the OpenAPI document alone.

The gateway passes the services' dicts through as they are; these describe them (and the
error body every failure has). Answers that are shared contracts (``User``, ``Product``) are
not repeated here: the document uses the contracts themselves.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from chassis.contracts.notifications import Notification
from chassis.contracts.products import Product
from chassis.contracts.sales import SalesRow


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


class _Page(Schema):
    total = fields.Int(required=True)
    offset = fields.Int(required=True)
    limit = fields.Int(required=True)


class ProductPage(_Page):
    items = fields.List(fields.Nested(Product), required=True)


class OrderLine(Schema):
    product_id = fields.Int(required=True)
    quantity = fields.Int(required=True)
    price_cents = fields.Int(
        required=True, allow_none=True, metadata={"description": "Unit price; null until reserved."}
    )
    name = fields.Str(metadata={"description": "On a single order, when products answers in time."})


class Order(Schema):
    id = fields.UUID(required=True)
    user_id = fields.Int(required=True)
    status = fields.Str(
        required=True, validate=validate.OneOf(["pending", "confirmed", "cancelled"])
    )
    cancel_reason = fields.Str(
        required=True,
        allow_none=True,
        metadata={
            "description": "out_of_stock, unknown_product, payment_declined, payment_failed, "
            "user_cancelled or expired; null unless cancelled."
        },
    )
    items = fields.List(fields.Nested(OrderLine), required=True)
    total_cents = fields.Int(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)


class OrderPage(_Page):
    items = fields.List(fields.Nested(Order), required=True)


class NotificationPage(_Page):
    items = fields.List(fields.Nested(Notification), required=True)


class SalesReport(Schema):
    items = fields.List(fields.Nested(SalesRow), required=True)


class Health(Schema):
    status = fields.Str(required=True, validate=validate.OneOf(["ok"]))
