"""The API contract: an OpenAPI 3 document built from the gateway's marshmallow schemas.

Served at ``GET /api/v1/openapi.json`` and browsable at ``GET /api/v1/docs``. Every route is
described once in ``OPERATIONS``, keyed by its Flask endpoint; paths and methods come from the
app's own URL map, so the document cannot name a path nothing answers, and a route missing
from the table fails the build rather than going undocumented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app
from marshmallow import Schema
from werkzeug.routing import Rule

from chassis.contracts.products import Product
from chassis.contracts.users import User
from gateway import schemas
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.idempotency import REPLAYED_HEADER
from gateway.responses import (
    Error,
    Health,
    NotificationPage,
    Order,
    OrderPage,
    ProductPage,
    SalesReport,
    Token,
)

TITLE = "shop gateway"
VERSION = "1.0.0"
OPENAPI_VERSION = "3.0.3"
PREFIX = "/api/v1"
SECURITY_SCHEME = "bearerAuth"

DESCRIPTION = """\
Errors are always `{"error", "message", "fields"}`. Tokens come from `POST /api/v1/auth/token`
and go in `Authorization: Bearer <token>`. Logins, sign-ups and order placements are rate
limited; an operator may also set a limit per client address on every route under /api/v1
(`RATE_LIMIT_DEFAULT_PER_IP`), which then answers 429 like the documented ones. Every answer
carries `X-Request-ID` (the client's own, when it sent a usable one). Readiness and metrics are
served on the gateway's ops port, which is not public.
"""

# What each route answers besides its own successes. Every JSON error has the Error body.
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
_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")  # a rule's <converter:name>
LOCATION = {"Location": {"description": "Where the new resource is.", "schema": {"type": "string"}}}


def json_body(
    description: str, schema: Any, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        answer["headers"] = headers
    return answer


@dataclass(frozen=True)
class Operation:
    """One route as the document tells it; ``errors`` maps a status to a description more
    precise than the one in ERRORS, or to None to keep that one."""

    summary: str
    tag: str
    ok: dict[int, dict[str, Any]]
    errors: dict[int, str | None] = field(default_factory=dict)
    auth: str | None = None  # "user" (any valid token) or "admin"
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    headers: tuple[dict[str, Any], ...] = ()
    calls_services: bool = True  # adds 503 and 504
    description: str = ""

    def to_dict(self, endpoint: str, path_parameters: list[dict[str, Any]]) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "operationId": endpoint,
            "summary": self.summary,
            "tags": [self.tag],
            "parameters": [*path_parameters, *self.headers],
            "responses": {str(code): answer for code, answer in self.ok.items()},
        }
        if self.description:
            operation["description"] = self.description
        if self.query is not None:
            operation["parameters"].append({"in": "query", "schema": self.query})
        if self.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self.body}},
            }
        if self.auth is not None:
            operation["security"] = [{SECURITY_SCHEME: []}]
        for code in sorted(self._error_codes()):
            text = self.errors.get(code) or ERRORS[code]
            operation["responses"][str(code)] = json_body(text, "Error", ERROR_HEADERS.get(code))
        return operation

    def _error_codes(self) -> set[int]:
        codes = set(self.errors)
        if self.body is not None:
            codes |= {400, 413}
        if self.query is not None:
            codes.add(400)
        if self.auth is not None:
            codes.add(401)
        if self.auth == "admin":
            codes.add(403)
        if self.calls_services:
            codes |= {503, 504}
        return codes


# What a schema checks in code (validates_schema) that its fields do not tell apispec.
SCHEMA_RULES: dict[str, dict[str, Any]] = {"ProductChanges": {"minProperties": 1}}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": False,
    "description": "Makes a retry safe: the same key with the same body answers the first "
    "answer again (with `Idempotent-Replayed: true`) for 24 h; with another body, 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "product_id": {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID},
    "order_id": {"type": "string", "format": "uuid"},
}
ORDER_ANSWER_HEADERS = {
    **LOCATION,
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

OPERATIONS: dict[str, Operation] = {
    "users.register": Operation(
        "Sign up as a customer",
        "users",
        {201: json_body("The new user.", User, LOCATION)},
        {409: "The email is already registered (`user_exists`).", 429: None},
        body=schemas.Registration,
    ),
    "users.token": Operation(
        "Log in: trade an email and password for a bearer token",
        "users",
        {200: json_body("A token for the Authorization header.", Token)},
        {401: "Wrong email or password (`invalid_credentials`).", 429: None},
        body=schemas.Credentials,
    ),
    "users.me": Operation(
        "The user the token belongs to",
        "users",
        {200: json_body("The user.", User)},
        {404: "The token's user no longer exists (`user_not_found`)."},
        auth="user",
    ),
    "products.list_products": Operation(
        "A page of the catalogue",
        "products",
        {200: json_body("The page, by id.", ProductPage)},
        query=schemas.PageQuery,
    ),
    "products.get_product": Operation(
        "One product",
        "products",
        {200: json_body("The product.", Product)},
        {404: "No such product (`product_not_found`)."},
    ),
    "products.create_product": Operation(
        "Add a product (admin)",
        "products",
        {201: json_body("The new product.", Product, LOCATION)},
        {409: "The SKU is taken (`duplicate_sku`)."},
        auth="admin",
        body=schemas.NewProduct,
        description="`id` is refused as read-only, and any unknown field as unknown.",
    ),
    "products.update_product": Operation(
        "Change a product's name, description, price or stock (admin)",
        "products",
        {200: json_body("The product as changed.", Product)},
        {404: "No such product (`product_not_found`)."},
        auth="admin",
        body=schemas.ProductChanges,
        description="`id` and `sku` are refused as read-only. Give at least one field.",
    ),
    "orders.create_order": Operation(
        "Place an order",
        "orders",
        {
            201: json_body(
                "Settled: confirmed, or cancelled with its reason.", Order, ORDER_ANSWER_HEADERS
            ),
            202: json_body(
                "Accepted, still pending: watch it at Location until it settles.",
                Order,
                ORDER_ANSWER_HEADERS,
            ),
        },
        {
            409: "A request with this Idempotency-Key is still in progress "
            "(`request_in_progress`).",
            422: "A product does not exist (`unknown_product`), a service refused the order "
            "(`order_rejected`), or the Idempotency-Key was used for another request "
            "(`idempotency_key_reused`).",
            429: None,
        },
        auth="user",
        body=schemas.NewOrder,
        headers=(IDEMPOTENCY_KEY,),
        description="Prices come from the catalogue. The saga runs for up to a few seconds "
        "while the client waits; an order not settled by then is answered 202, pending.",
    ),
    "orders.list_orders": Operation(
        "A page of the caller's orders, newest first",
        "orders",
        {200: json_body("The page.", OrderPage)},
        auth="user",
        query=schemas.PageQuery,
    ),
    "orders.get_order": Operation(
        "One of the caller's orders, with product names",
        "orders",
        {200: json_body("The order.", Order)},
        {404: "No such order, or not the caller's (`order_not_found`)."},
        auth="user",
    ),
    "orders.cancel_order": Operation(
        "Cancel one of the caller's confirmed orders: refunded, stock given back",
        "orders",
        {
            200: json_body("The order, cancelled.", Order, LOCATION),
            202: json_body(
                "Accepted: the refund and the return of the stock go on; the order still "
                "stands as confirmed until they end. Watch it at Location.",
                Order,
                LOCATION,
            ),
        },
        {
            400: "A body was sent: this route takes none (or `{}`).",
            404: "No such order, or not the caller's (`order_not_found`).",
            409: "Still pending, already cancelled, or being cancelled by another request "
            "(`order_not_cancellable`).",
            413: None,
        },
        auth="user",
    ),
    "notifications.list_notifications": Operation(
        "A page of the caller's notifications, newest first",
        "notifications",
        {200: json_body("The page.", NotificationPage)},
        auth="user",
        query=schemas.PageQuery,
    ),
    "admin.sales": Operation(
        "Units and revenue per product per day (admin)",
        "admin",
        {200: json_body("One row per product and day with sales.", SalesReport)},
        auth="admin",
        query=schemas.SalesQuery,
        description=f"Both days included, at most {schemas.MAX_SALES_DAYS} days.",
    ),
    "health.health": Operation(
        "Liveness",
        "operations",
        {200: json_body("The process answers.", Health)},
        calls_services=False,
    ),
    "openapi.document": Operation(
        "This document",
        "operations",
        {200: json_body("OpenAPI 3.", {"type": "object"})},
        calls_services=False,
    ),
    "openapi.docs": Operation(
        "This document, to read in a browser",
        "operations",
        {
            200: {
                "description": "An HTML page.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
        },
        calls_services=False,
    ),
}


def _path_of(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """``/products/<int:product_id>`` as ``/products/{product_id}``, with its parameters."""
    parameters = [
        {"in": "path", "name": name, "required": True, "schema": PATH_PARAMETERS[name]}
        for name in _VARIABLE.findall(rule.rule)
    ]
    return _VARIABLE.sub(r"{\1}", rule.rule), parameters


def build_spec(app: Flask) -> dict[str, Any]:
    """The document for every route of ``app``; KeyError naming a route left out of OPERATIONS."""
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
    )
    spec.components.schema("Error", schema=Error)
    spec.components.security_scheme(
        SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if rule.endpoint == "static":  # Flask's own; the gateway has no files to serve
            continue
        try:
            operation = OPERATIONS[rule.endpoint]
        except KeyError:
            raise KeyError(f"{rule.rule} ({rule.endpoint}) is not in OPERATIONS") from None
        path, parameters = _path_of(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = operation.to_dict(
                rule.endpoint, parameters
            )
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    for name, rules in SCHEMA_RULES.items():
        document["components"]["schemas"][name].update(rules)
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
REDOC = "https://cdn.jsdelivr.net/npm/redoc@2.5.4/bundles/redoc.standalone.js"
REDOC_INTEGRITY = "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5"
# The one page that runs script: ReDoc from its CDN (pinned by hash), its inline styles, its
# search worker, and the document from here.
DOCS_POLICY = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; worker-src blob:; connect-src 'self'; "
    "frame-ancestors 'none'"
)


@bp.get("/openapi.json")
def document() -> dict[str, Any]:
    spec = current_app.extensions.get("openapi")
    if spec is None:  # built once per process; two first requests at once build it twice
        spec = current_app.extensions["openapi"] = build_spec(current_app)
    return spec


@bp.get("/docs")
def docs() -> Response:
    page = DOCS_PAGE.format(spec=f"{PREFIX}/openapi.json", script=REDOC, integrity=REDOC_INTEGRITY)
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": DOCS_POLICY})
