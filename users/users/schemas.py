"""The users service's RPC schemas: its contract plus the arguments of single-value calls."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from chassis.contracts.users import Credentials, RegisterUser, User

__all__ = ["Credentials", "RegisterUser", "User", "UserId", "UserRef"]


class UserId(Schema):
    user_id = fields.Int(required=True, strict=True, validate=validate.Range(min=1))


class UserRef(UserId):
    """A user, and the user a caller acts for (None: a trusted internal caller)."""

    requester_id = fields.Int(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1)
    )
