from flask import Blueprint, g

from gateway import schemas
from gateway.auth import issue_token, login_required
from gateway.context import logins, rpc, settings
from gateway.limits import client_ip

bp = Blueprint("users", __name__)


@bp.post("/api/v1/users")
def register():
    data = schemas.body(schemas.Registration())
    user = rpc().call("users", "register_user", **data)
    return user, 201, {"Location": "/api/v1/users/me"}


@bp.get("/api/v1/users/me")
@login_required
def me():
    return rpc().read("users", "get_user", g.user["id"])


@bp.post("/api/v1/auth/token")
def token():
    data = schemas.body(schemas.Credentials())
    # Counted before the password is checked; given back unless it was the wrong one.
    with logins().attempt(data["email"], client_ip()):
        user = rpc().call("users", "authenticate", data["email"], data["password"])
    return issue_token(user, settings())
