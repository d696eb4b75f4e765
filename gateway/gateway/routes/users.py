from typing import Any

from flask import g

from chassis.contracts.users import Credentials, User
from gateway import limits
from gateway.api import LOCATION, Blueprint
from gateway.auth import issue_token
from gateway.context import logins, rpc, settings
from gateway.limits import client_ip
from gateway.responses import Token
from gateway.schemas import Registration

bp = Blueprint("users", __name__)


@bp.post("/api/v1/users")
@bp.limit(limits.SIGNUPS)
@bp.arguments(Registration)
@bp.alt_response(201, schema=User, description="The new user.", headers=LOCATION, success=True)
@bp.errors(409, description="The email is already registered (`user_exists`).")
@bp.errors(503, 504)
def register(data: dict[str, Any]) -> Any:
    """Sign up as a customer"""
    user = rpc().call("users", "register_user", **data)
    return user, 201, {"Location": "/api/v1/users/me"}


@bp.get("/api/v1/users/me")
@bp.auth()
@bp.alt_response(200, schema=User, description="The user.", success=True)
@bp.errors(404, description="The token's user no longer exists (`user_not_found`).")
@bp.errors(503, 504)
def me() -> Any:
    """The user the token belongs to"""
    return rpc().read("users", "get_user", g.user["id"])


@bp.post("/api/v1/auth/token")
@bp.limit(limits.LOGINS)
@bp.arguments(Credentials)
@bp.alt_response(
    200, schema=Token, description="A token for the Authorization header.", success=True
)
@bp.errors(401, description="Wrong email or password (`invalid_credentials`).")
@bp.errors(503, 504)
def token(data: dict[str, Any]) -> Any:
    """Log in: trade an email and password for a bearer token"""
    # Failed logins are limited per email address too: the attempt holds its place before the
    # password is checked, and gives it back unless it was the wrong one (gateway.logins).
    with logins().attempt(data["email"], client_ip()):
        user = rpc().call("users", "authenticate", data["email"], data["password"])
    return issue_token(user, settings())
