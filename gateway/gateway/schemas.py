"""Request schemas of the HTTP API, built from the RPC contracts where the payload is the same."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from chassis.contracts.products import MAX_PAGE, NewProduct, ProductChanges
from chassis.contracts.users import Credentials, RegisterUser
from gateway.errors import ApiError

__all__ = [
    "NewProduct",
    "ProductChanges",
    "Credentials",
    "Registration",
    "PageQuery",
    "NewOrder",
    "SalesQuery",
    "body",
    "query",
]

MAX_ID = 2**31 - 1
MAX_ORDER_ITEMS = 100
MAX_QUANTITY = 10_000
MAX_SALES_DAYS = 366  # a report covers at most a (leap) year, both ends included


class Registration(RegisterUser):
    """Public sign-up: everyone is a customer, so ``role`` is not accepted."""

    class Meta:
        exclude = ("role",)


class PageQuery(Schema):
    offset = fields.Int(load_default=0, validate=validate.Range(min=0, max=10**9))
    limit = fields.Int(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE))


class OrderItem(Schema):
    product_id = fields.Int(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    quantity = fields.Int(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY)
    )


class NewOrder(Schema):
    items = fields.List(
        fields.Nested(OrderItem),
        required=True,
        validate=validate.Length(min=1, max=MAX_ORDER_ITEMS),
    )
    payment_token = fields.Str(
        required=True,
        validate=[
            validate.Length(min=1, max=100),
            validate.Regexp(r".*\S", error="Must not be blank."),
        ],
    )


class SalesQuery(Schema):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD``, both days included."""

    date_from = fields.Date(required=True, data_key="from")
    date_to = fields.Date(required=True, data_key="to")

    @validates_schema
    def _a_range(self, data: dict[str, Any], **kwargs: Any) -> None:
        start: date = data["date_from"]
        end: date = data["date_to"]
        if end < start:
            raise ValidationError("Must not be before from.", "to")
        if (end - start).days + 1 > MAX_SALES_DAYS:
            raise ValidationError(f"The range may cover at most {MAX_SALES_DAYS} days.", "to")


def _invalid(messages: Any) -> ApiError:
    fields_ = messages if isinstance(messages, dict) else {"_schema": messages}
    return ApiError(400, "invalid_input", "Invalid input", fields_)


def body(schema: Schema) -> dict[str, Any]:
    """The request's JSON object, validated; a 400 naming the fields otherwise."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(
            400,
            "invalid_json",
            "The body must be a JSON object",
            {"_body": ["Send a JSON object with Content-Type: application/json."]},
        )
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _invalid(exc.messages) from None


def query(schema: Schema) -> dict[str, Any]:
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as exc:
        raise _invalid(exc.messages) from None
