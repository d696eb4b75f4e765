"""Request schemas of the HTTP API, built from the RPC contracts where the payload is the same."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from chassis.contracts.orders import MAX_ORDER_ITEMS, MAX_QUANTITY, check_merged_quantities
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
    "no_body",
    "query",
    "JsonProvider",
]

MAX_ID = 2**31 - 1
MAX_SALES_DAYS = 366  # a report covers at most a (leap) year, both ends included
UNSTORABLE_TEXT = "Must not contain NUL or unpaired surrogate characters."


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

    @validates_schema
    def _merged_within_bounds(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_merged_quantities(data["items"])


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


def _unstorable(data: dict[str, Any]) -> dict[Any, Any]:
    """Messages naming each string in ``data`` that no service could store (PostgreSQL's text
    holds neither NUL nor an unpaired surrogate), nested as marshmallow nests them. A loop, not
    recursion: JSON nested as deeply as the parser allows must not overflow the stack here."""
    found: dict[Any, Any] = {}
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((path + (key,), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((path + (index,), item) for index, item in enumerate(value))
        elif isinstance(value, str) and not _storable(value):
            place = found
            for key in path[:-1]:
                place = place.setdefault(key, {})
            place[path[-1]] = [UNSTORABLE_TEXT]
    return found


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode()  # fails on an unpaired surrogate, which JSON's \ud800 escapes can make
    except UnicodeEncodeError:
        return False
    return True


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
    unstorable = _unstorable(data)
    if unstorable:
        raise _invalid(unstorable)
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _invalid(exc.messages) from None


class Empty(Schema):
    """The body of a route that takes none: nothing, or ``{}``."""


def no_body() -> None:
    """Refuse a body on a route that takes none as any body is refused: fields it does not
    know (400 naming them), malformed JSON (400) or too large (413)."""
    if request.get_data(cache=True):
        body(Empty())


def query(schema: Schema) -> dict[str, Any]:
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as exc:
        raise _invalid(exc.messages) from None


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, except that a document nested too deeply for the parser is invalid JSON
    (a 400, like any other), not a RecursionError (a 500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
