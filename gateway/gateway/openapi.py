"""The API contract: an OpenAPI 3 document made from the routes' own declarations.

Each route says where it is declared what it takes, answers, its auth and its limits
(``gateway.api``); flask-smorest gathers that into the document, served at
``GET /api/v1/openapi.json`` and browsable at ``GET /api/v1/docs``. A route that declares
nothing fails the app's start rather than going undocumented.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apispec import BasePlugin
from flask import Flask, Response, current_app, url_for
from flask_smorest.spec.plugins import FlaskPlugin

from chassis.contracts.orders import OrderPlacement
from chassis.contracts.products import ProductChanges
from gateway.api import OPERATIONS, SECURITY_SCHEME, Api, Blueprint

TITLE = "shop gateway"
VERSION = "1.0.0"
OPENAPI_VERSION = "3.0.3"
PREFIX = "/api/v1"

DESCRIPTION = """\
Errors are always `{"error", "message", "fields"}`. Tokens come from `POST /api/v1/auth/token`
and go in `Authorization: Bearer <token>`. Logins, sign-ups and order placements are rate
limited; an operator may also set a limit per client address on every route under /api/v1
(`RATE_LIMIT_DEFAULT_PER_IP`), which then answers 429 like the documented ones. Every answer
carries `X-Request-ID` (the client's own, when it sent a usable one). Readiness and metrics are
served on the gateway's ops port, which is not public.
"""
# Answered by the HTTP server (gunicorn) itself, before the request reaches the gateway.
URI_TOO_LONG = {
    "description": "The request line is over the HTTP server's limit: answered by the server "
    "itself, in HTML.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


class EveryOperation(BasePlugin):
    """What the document says of every operation alike: its id (the Flask endpoint), all its
    parameters (the path's too, as each operation has always listed them), and the 414."""

    def path_helper(
        self, path: Any = None, operations: Any = None, parameters: Any = None, **kwargs: Any
    ) -> None:
        for operation in operations.values():
            operation["parameters"] = [*parameters, *operation.get("parameters", [])]
        parameters.clear()

    def operation_helper(self, path: Any = None, operations: Any = None, **kwargs: Any) -> None:
        for operation in operations.values():
            operation.setdefault("operationId", kwargs["rule"].endpoint)
            operation.setdefault("responses", {})[414] = URI_TOO_LONG


def install(app: Flask, blueprints: Iterable[Blueprint]) -> None:
    """Register ``blueprints`` on ``app`` with their documentation, and the document itself."""
    api = Api(
        app,
        spec_kwargs={
            "title": TITLE,
            "version": VERSION,
            "openapi_version": OPENAPI_VERSION,
            "info": {"description": DESCRIPTION},
            "extra_plugins": [EveryOperation()],
        },
    )
    api.spec.components.security_scheme(
        SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    # What a schema checks in code (validates_schema) that its fields cannot tell the document,
    # and the name the document has always given the order a customer places.
    api.spec.components.schema("ProductChanges", {"minProperties": 1}, schema=ProductChanges)
    api.spec.components.schema("NewOrder", schema=OrderPlacement)
    for blueprint in (*blueprints, bp):
        api.register_blueprint(blueprint)
    app.extensions["openapi"] = build_spec(app)


# The storefront's pages (HTML for people, with their own tests) are not part of the API.
PAGES = "storefront"


def build_spec(app: Flask) -> dict[str, Any]:
    """The document of ``app``; KeyError naming any route of the API that declares nothing."""
    document: dict[str, Any] = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    for rule in app.url_map.iter_rules():
        operations = document["paths"].get(FlaskPlugin.flaskpath2openapi(rule.rule), {})
        methods = {method.lower() for method in rule.methods or ()} - {"head", "options"}
        page = rule.endpoint == "static" or rule.endpoint.startswith(f"{PAGES}.")
        if not page and not methods <= set(operations):
            raise KeyError(f"{rule.rule} ({rule.endpoint}) is not in the document")
    return document


bp = Blueprint("openapi", __name__, url_prefix=PREFIX)

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shop API</title>
</head>
<body>
<redoc spec-url="{spec}"></redoc>
<script src="{script}" integrity="{integrity}" crossorigin="anonymous"></script>
</body>
</html>
"""
# ReDoc 2.5.4's standalone bundle, vendored from its npm package (MIT, licence beside it) and
# served by the gateway: nothing is loaded from another site. The hash is the one its CDN
# publishes; the browser checks the file against it.
REDOC = "vendor/redoc-2.5.4/redoc.standalone.js"
REDOC_INTEGRITY = "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5"
# The page runs ReDoc from here, its inline styles, its search worker, and the document.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; worker-src blob:; connect-src 'self'; "
    "frame-ancestors 'none'"
)


@bp.get("/openapi.json", tags=[OPERATIONS])
@bp.alt_response(200, schema={"type": "object"}, description="OpenAPI 3.", success=True)
def document() -> dict[str, Any]:
    """This document"""
    return current_app.extensions["openapi"]


@bp.get("/docs", tags=[OPERATIONS])
@bp.alt_response(
    200,
    schema={"type": "string"},
    content_type="text/html",
    description="An HTML page.",
    success=True,
)
def docs() -> Response:
    """This document, to read in a browser"""
    script = url_for("storefront.static", filename=REDOC)
    page = DOCS_PAGE.format(spec=f"{PREFIX}/openapi.json", script=script, integrity=REDOC_INTEGRITY)
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": DOCS_POLICY})
