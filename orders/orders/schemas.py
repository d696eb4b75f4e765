"""The orders service's RPC schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from chassis.contracts.orders import MAX_ORDER_ITEMS, MAX_QUANTITY, check_merged_quantities
from chassis.contracts.paging import Page

MAX_ID = 2**31 - 1
_order_id = validate.Length(min=1, max=64)
_user_id = validate.Range(min=1, max=MAX_ID)


class Item(Schema):
    product_id = fields.Int(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    quantity = fields.Int(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY)
    )


class NewOrder(Schema):
    user_id = fields.Int(required=True, strict=True, validate=_user_id)
    items = fields.List(
        fields.Nested(Item), required=True, validate=validate.Length(min=1, max=MAX_ORDER_ITEMS)
    )
    payment_token = fields.Str(
        required=True, validate=[validate.Length(min=1, max=100), validate.Regexp(r".*\S")]
    )
    idempotency_key = fields.Str(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=255)
    )

    @validates_schema
    def _merged_within_bounds(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_merged_quantities(data["items"])


class OrderRef(Schema):
    order_id = fields.Str(required=True, validate=_order_id)
    user_id = fields.Int(load_default=None, allow_none=True, strict=True, validate=_user_id)


class UserPage(Page):
    user_id = fields.Int(required=True, strict=True, validate=_user_id)


class SalesQuery(Schema):
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["date_from"] > data["date_to"]:
            raise ValidationError("Must not be after date_to.", "date_from")


class OrderItem(Schema):
    product_id = fields.Int(required=True)
    quantity = fields.Int(required=True)
    price_cents = fields.Int(allow_none=True)


class Order(Schema):
    id = fields.Str(required=True)
    user_id = fields.Int(required=True)
    status = fields.Str(required=True)
    cancel_reason = fields.Str(allow_none=True)
    items = fields.List(fields.Nested(OrderItem), required=True)
    total_cents = fields.Int(allow_none=True)
    created_at = fields.DateTime(format="iso")

    @post_dump
    def _reason_once_cancelled(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # An order being compensated stands as it was until the compensation ends: a reader
        # never sees a confirmed order with a cancellation reason.
        if data.get("status") != "cancelled":
            data["cancel_reason"] = None
        return data
