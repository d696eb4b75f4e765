"""RPC payloads of the users service."""

from __future__ import annotations

import unicodedata
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

CUSTOMER = "customer"
ADMIN = "admin"
ROLES = (CUSTOMER, ADMIN)
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256  # argon2 is fed the whole string: bound the work a request can ask for

_not_blank = validate.Regexp(r".*\S", error="Must not be blank.")
NAME_MAX_LENGTH = 100
# Joiners that some scripts (Persian, Devanagari...) need inside a name; every other format
# character (bidi overrides, invisible marks) only serves to disguise text.
_JOINERS = {"\u200c", "\u200d"}


def printable(value: str) -> None:
    """Refuse control characters (line breaks included), format characters but the joiners,
    line and paragraph separators, unassigned, private-use and surrogate code points: what is
    left shows as what it is, on one line."""
    for char in value:
        category = unicodedata.category(char)
        if (category[0] == "C" and char not in _JOINERS) or category in ("Zl", "Zp"):
            raise ValidationError(
                "Must be printable text on one line "
                f"(U+{ord(char):04X} is a control or invisible character)."
            )


class NormalizedEmail(fields.Email):
    """An address as it is stored and compared: lower-case, without surrounding blanks."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
        return super()._deserialize(value, attr, data, **kwargs)


class RegisterUser(Schema):
    email = NormalizedEmail(required=True, validate=validate.Length(max=254))
    password = fields.Str(
        required=True, validate=validate.Length(min=PASSWORD_MIN_LENGTH, max=PASSWORD_MAX_LENGTH)
    )
    name = fields.Str(
        required=True,
        validate=[validate.Length(min=1, max=NAME_MAX_LENGTH), _not_blank, printable],
    )
    role = fields.Str(load_default=CUSTOMER, validate=validate.OneOf(ROLES))


class Credentials(Schema):
    email = fields.Str(required=True, validate=validate.Length(min=1, max=254))
    password = fields.Str(required=True, validate=validate.Length(min=1, max=PASSWORD_MAX_LENGTH))


class User(Schema):
    id = fields.Int(required=True)
    email = fields.Str(required=True)
    name = fields.Str(required=True)
    role = fields.Str(required=True)
