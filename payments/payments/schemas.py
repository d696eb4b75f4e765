"""The payments service's RPC schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_AMOUNT = 10**15  # an order's total: far above any real one, within a 64-bit column
_order_id = validate.Length(min=1, max=64)


class Charge(Schema):
    order_id = fields.Str(required=True, validate=_order_id)
    amount_cents = fields.Int(
        required=True, strict=True, validate=validate.Range(min=0, max=MAX_AMOUNT)
    )
    payment_token = fields.Str(
        required=True, validate=[validate.Length(min=1, max=100), validate.Regexp(r".*\S")]
    )
    user_id = fields.Int(load_default=None, allow_none=True, strict=True)


class OrderId(Schema):
    order_id = fields.Str(required=True, validate=_order_id)


class PaymentRef(OrderId):
    """An order's payment, and the user a caller acts for (None: a trusted internal caller)."""

    user_id = fields.Int(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1)
    )


class Payment(Schema):
    order_id = fields.Str(required=True)
    user_id = fields.Int(allow_none=True)
    amount_cents = fields.Int(required=True)
    status = fields.Str(required=True)
    provider_ref = fields.Str(allow_none=True)
    reason = fields.Str(allow_none=True)
