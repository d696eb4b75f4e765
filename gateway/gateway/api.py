"""The gateway's flask-smorest: a Blueprint on which each route declares, on its view, what it
takes, what it answers, its rate limit and who may call it; and the Api that makes the OpenAPI
document (``gateway.openapi``) from these declarations alone.

    @bp.post("")
    @bp.limit(limits.ORDERS)
    @bp.auth()
    @bp.arguments(OrderPlacement)
    @bp.alt_response(201, schema=Order, description="Settled...", success=True)
    @bp.errors(503, 504)
    def create_order(placement): ...

The limit is counted first, by the app's limiter, from what the route declares; then the
decorators run top-down: the token is checked, the input read (and handed to the view), and
the view runs. Answers are documented, never serialised: a view returns what the service
answered as it came, so successes are ``alt_response(..., success=True)``, not ``response``,
which would dump them through the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
from werkzeug.exceptions import HTTPException

from chassis.contracts.users import ADMIN
from gateway import limits
from gateway.auth import admin_required, login_required
from gateway.errors import Answer, http_error
from gateway.responses import Error
from gateway.schemas import parser

SECURITY_SCHEME = "bearerAuth"
USER = "user"  # any valid token
OPERATIONS = "operations"  # the tag of the routes an operator's tools call

# What each error status means where a route says no more. Every JSON error has the Error body.
ERRORS: dict[int, str] = {
    400: "Bad input: `fields` names each bad field (`invalid_input`, `invalid_json`).",
    401: "No bearer token, or one that is invalid or expired (`unauthorized`).",
    403: "The token is valid but not an admin's (`forbidden`).",
    404: "Nothing here by that id.",
    409: "The request conflicts with the current state.",
    413: "The body is over 64 KiB (`request_entity_too_large`).",
    422: "Well formed, but the service refuses it.",
    429: "Over a rate limit: wait `Retry-After` seconds (`rate_limited`).",
    503: "A service or the broker is unavailable (`service_unavailable`); retry after "
    "`Retry-After` seconds.",
    504: "A service did not answer within the gateway's RPC timeout (`timeout`).",
}
RETRY_AFTER = {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    409: {"Retry-After": RETRY_AFTER},
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}
LOCATION = {"Location": {"description": "Where the new resource is.", "schema": {"type": "string"}}}
# The Error body, which the Api below registers as its error schema: by reference, as the
# library would otherwise copy the schema for each error of each route of each app it makes.
ERROR = {"$ref": "#/components/schemas/Error"}

View = TypeVar("View", bound=Callable[..., Any])
Decorator = Callable[[View], View]


def path_parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A rule's ``<name>`` as the document tells it, for a route's ``parameters``."""
    return {"in": "path", "name": name, "schema": schema}


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, refusing bad input with the gateway's own errors."""

    ARGUMENTS_PARSER = parser

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Decorator:
        """Read the input ``schema`` describes, from ``location``, into the view's arguments;
        documents the 400 naming bad fields (and, for a body, the 413 for one too large)."""
        read = super().arguments(schema, location=location, **kwargs)
        refused = self.errors(400, 413) if location == "json" else self.errors(400)
        return lambda view: read(refused(view))

    def errors(self, *codes: int, description: str | None = None) -> Decorator:
        """Document that the route may answer each of ``codes`` with the Error body; in the
        words of ``ERRORS`` unless ``description`` says more."""

        def decorate(view: View) -> View:
            for code in codes:
                view = self.alt_response(
                    code,
                    schema=ERROR,
                    description=description or ERRORS[code],
                    headers=ERROR_HEADERS.get(code),
                )(view)
            return view

        return decorate

    def auth(self, role: str = USER) -> Decorator:
        """Only with a valid bearer token (``g.user``), an admin's for ``ADMIN``: else 401
        (403 for another's)."""
        check = admin_required if role == ADMIN else login_required
        refused = self.errors(401, 403) if role == ADMIN else self.errors(401)
        secured = self.doc(security=[{SECURITY_SCHEME: []}])
        return lambda view: secured(refused(check(view)))

    def limit(self, rule: limits.RateLimit) -> Decorator:
        """At most what ``rule`` allows (``gateway.limits``): beyond it, 429. Recorded on the
        view, for the app's limiter to count before the view is called."""
        return lambda view: rule(self.errors(429)(view))


class Api(flask_smorest.Api):
    """flask-smorest's Api, answering errors as the gateway does (``gateway.errors``)."""

    ERROR_SCHEMA = Error
    DEFAULT_ERROR_RESPONSE_NAME = None  # each route declares the errors it may answer

    def handle_http_exception(self, error: HTTPException) -> Answer:
        return http_error(error)
