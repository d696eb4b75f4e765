"""RPC payloads of the users service."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

CUSTOMER = "customer"
ADMIN = "admin"
ROLES = (CUSTOMER, ADMIN)
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256  # argon2 is fed the whole string: bound the work a request can ask for

_not_blank = validate.Regexp(r".*\S", error="Must not be blank.")


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
    name = fields.Str(required=True, validate=[validate.Length(min=1, max=100), _not_blank])
    role = fields.Str(load_default=CUSTOMER, validate=validate.OneOf(ROLES))


class Credentials(Schema):
    email = fields.Str(required=True, validate=validate.Length(min=1, max=254))
    password = fields.Str(required=True, validate=validate.Length(min=1, max=PASSWORD_MAX_LENGTH))


class User(Schema):
    id = fields.Int(required=True)
    email = fields.Str(required=True)
    name = fields.Str(required=True)
    role = fields.Str(required=True)
