"""What the HTTP API takes, and how it refuses what it cannot take.

Routes declare their input with ``Blueprint.arguments`` (``gateway.api``), which reads it
through ``parser`` below: a body that is not a JSON object is a 400 ``invalid_json``; a field
that is unknown, invalid, or text that no service could store is a 400 ``invalid_input`` naming
it, in a body or a query string alike. Payloads that are shared contracts are not repeated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from flask import Request, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import Schema, ValidationError, fields
from webargs.flaskparser import FlaskParser

from chassis.contracts.orders import MAX_ID as MAX_ID
from chassis.contracts.sales import SalesQuery
from chassis.contracts.users import RegisterUser
from gateway.errors import ApiError

UNSTORABLE_TEXT = "Must not contain NUL or unpaired surrogate characters."


class Registration(RegisterUser):
    """Public sign-up: everyone is a customer, so ``role`` is not accepted."""

    class Meta:
        exclude = ("role",)


class SalesPeriod(SalesQuery):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD``, both days included."""

    date_from = fields.Date(required=True, data_key="from")
    date_to = fields.Date(required=True, data_key="to")


class Empty(Schema):
    """The body of a route that takes none: nothing, or ``{}``."""


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


class Parser(FlaskParser):
    """webargs' Flask parser, refusing input with the gateway's own errors."""

    DEFAULT_VALIDATION_STATUS = 400
    # A query string with a parameter the route does not know is refused, as a body is.
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }

    def load_json(self, req: Request, schema: Schema) -> dict[str, Any]:
        data = req.get_json(silent=True)
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
        return data

    def handle_error(
        self,
        error: ValidationError,
        req: Request,
        schema: Schema,
        *,
        error_status_code: int | None,
        error_headers: Mapping[str, str] | None,
    ) -> NoReturn:
        # webargs files the messages under the location they came from: the fields are inside.
        (messages,) = error.messages_dict.values()
        raise _invalid(messages) from None


parser = Parser()


def no_body() -> None:
    """Refuse a body on a route that takes none as any body is refused: fields it does not
    know (400 naming them), malformed JSON (400) or too large (413)."""
    if request.get_data(cache=True):
        parser.parse(Empty, location="json")


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON, except that a document nested too deeply for the parser is invalid JSON
    (a 400, like any other), not a RecursionError (a 500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
