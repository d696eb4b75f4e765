"""Request schemas of the HTTP API, built from the RPC contracts where the payload is the same."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError, fields, validate

from chassis.contracts.products import MAX_PAGE, NewProduct, ProductChanges
from chassis.contracts.users import Credentials, RegisterUser
from gateway.errors import ApiError

__all__ = [
    "NewProduct",
    "ProductChanges",
    "Credentials",
    "Registration",
    "PageQuery",
    "body",
    "query",
]

MAX_ID = 2**31 - 1


class Registration(RegisterUser):
    """Public sign-up: everyone is a customer, so ``role`` is not accepted."""

    class Meta:
        exclude = ("role",)


class PageQuery(Schema):
    offset = fields.Int(load_default=0, validate=validate.Range(min=0, max=10**9))
    limit = fields.Int(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE))


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
