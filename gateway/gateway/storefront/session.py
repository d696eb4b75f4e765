"""Who is signed in to the storefront, and that a form came from its own pages.

* **The session** is the same JWT the API hands out (``gateway.auth``), kept in an ``HttpOnly``
  cookie (script cannot read it) with ``SameSite=Strict`` (no other site's page or link sends
  it). The JSON API keeps bearer tokens only: the cookie never authenticates ``/api/v1``.
* **CSRF**: every form carries a token that must equal the ``shop_csrf`` cookie (the
  double-submit pattern); another site can make a browser post a form, but cannot read or set
  the cookie to match. Forms that change nothing server-side (search) need none.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import jwt
from flask import abort, g, request
from werkzeug.wrappers import Response

from gateway import context
from gateway.auth import decode_token, issue_token

SESSION_COOKIE = "shop_session"
CSRF_COOKIE = "shop_csrf"
CSRF_FIELD = "csrf_token"


def signed_in() -> dict[str, Any] | None:
    """The identity ``{"id", "role"}`` of the session cookie; None without a valid one."""
    if "user" not in g:
        token = request.cookies.get(SESSION_COOKIE)
        g.user = None
        if token:
            try:
                g.user = decode_token(token, context.settings())
            except jwt.InvalidTokenError:
                g.user = None
    return g.user


def csrf_token() -> str:
    """The token the forms of this page carry (the cookie's, or a new one set with the page)."""
    if "csrf" not in g:
        g.csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    return str(g.csrf)


def check_csrf() -> None:
    """Refuse (400) a form whose token is missing or is not the cookie's."""
    sent = request.form.get(CSRF_FIELD, "")
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        abort(400, "This form has expired: reload the page and try again.")


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )


def sign_in(response: Response, user: dict[str, Any]) -> None:
    settings = context.settings()
    token = issue_token(user, settings)["access_token"]
    _cookie(response, SESSION_COOKIE, token, settings.jwt_ttl)


def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", samesite="Strict", httponly=True)


def keep_csrf_cookie(response: Response) -> None:
    """Set the CSRF cookie on the answer when this request made the token."""
    if "csrf" in g and request.cookies.get(CSRF_COOKIE) != g.csrf:
        _cookie(response, CSRF_COOKIE, str(g.csrf), 7 * 24 * 3600)
