"""Bearer tokens: JWT signed with HS256, carrying the user's id and role."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import jwt
from flask import g, request

from chassis.contracts.users import ADMIN
from gateway import context
from gateway.config import Settings
from gateway.errors import ApiError

ALGORITHM = "HS256"  # pinned: a token's own header never chooses how it is checked


def issue_token(user: dict[str, Any], settings: Settings) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": str(user["id"]),
        "role": user["role"],
        "iat": now,
        "exp": now + settings.jwt_ttl,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    token = jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)
    return {"access_token": token, "token_type": "bearer", "expires_in": settings.jwt_ttl}


def decode_token(token: str, settings: Settings) -> dict[str, Any]:
    """The verified identity ``{"id", "role"}`` in ``token``; ``jwt.InvalidTokenError`` if none."""
    claims = jwt.decode(
        token,
        settings.jwt_secret,
        algorithms=[ALGORITHM],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )
    try:
        return {"id": int(claims["sub"]), "role": str(claims["role"])}
    except (KeyError, TypeError, ValueError):
        raise jwt.InvalidTokenError("malformed identity claims") from None


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def current_user() -> dict[str, Any]:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("A bearer token is required")
    try:
        return decode_token(token.strip(), context.settings())
    except jwt.ExpiredSignatureError:
        raise _unauthenticated("The token has expired") from None
    except jwt.InvalidTokenError:
        raise _unauthenticated("The token is not valid") from None


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.user = current_user()
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.user = current_user()
        if g.user["role"] != ADMIN:
            raise ApiError(403, "forbidden", "Only an admin may do this")
        return view(*args, **kwargs)

    return wrapper
