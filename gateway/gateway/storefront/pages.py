"""The storefront: server-rendered pages over the same RPC calls as the JSON API.

Every page reads through the gateway's RPC pool, with its timeouts and breakers; a refusal or
an outage is shown on the page in words, never as a JSON error or a stack trace. Forms that
change something carry the CSRF token (``storefront.session``); checkout carries a key of its
own per attempt, so a double click places one order.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import pybreaker
from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from flask_limiter.errors import RateLimitExceeded
from marshmallow import Schema, ValidationError
from nameko.exceptions import RpcTimeout, UnknownService
from werkzeug.exceptions import HTTPException

from chassis.contracts.cart import Checkout, NewCartItem
from chassis.contracts.errors import ServiceUnavailable
from chassis.contracts.products import CatalogueSearch, NewProduct, ProductChanges
from chassis.contracts.users import ADMIN, Credentials
from chassis.errors import ServiceError
from chassis.schemas import instance
from gateway import limits
from gateway.context import logins, rpc
from gateway.errors import REMOTE_ERRORS, ApiError
from gateway.limits import client_ip
from gateway.routes.orders import with_product_names
from gateway.rpc import PoolExhausted
from gateway.schemas import MAX_ID, Registration, SalesPeriod
from gateway.storefront import charts, session

_log = logging.getLogger(__name__)

bp = Blueprint(
    "storefront",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",  # the app keeps /static (and has nothing there)
)

PAGE_SIZE = 12
# The simulated provider's tokens, as a customer chooses among them at checkout.
PAYMENT_CHOICES = [
    ("tok_visa", "Card that is approved"),
    ("tok_decline", "Card that is declined"),
    ("tok_fail", "Card whose provider fails"),
    ("tok_slow", "Card whose provider is slow"),
]
PAGE_KEY_PREFIX = "page:"  # orders keys the order on it: the same attempt, the same order
UNAVAILABLE = (RpcTimeout, UnknownService, pybreaker.CircuitBreakerError, PoolExhausted, OSError)
# Pages may run script from here only; forms post here only.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class Refused(Exception):
    """What to tell the person, and the HTTP status of the page that tells it."""

    def __init__(self, status: int, messages: list[str]) -> None:
        super().__init__(*messages)
        self.status = status
        self.messages = messages


# -- helpers ---------------------------------------------------------------------------


@bp.app_template_filter("money")
def money(cents: int | None) -> str:
    return "—" if cents is None else f"{cents / 100:,.2f}"


@bp.app_context_processor
def _page_context() -> dict[str, Any]:
    return {"me": session.signed_in, "csrf_token": session.csrf_token}


@bp.after_request
def _page_headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = PAGE_POLICY
    session.keep_csrf_cookie(response)
    return response


def page(template: str, status: int = 200, **values: Any) -> tuple[str, int]:
    return render_template(template, **values), status


def words(exc: Exception) -> list[str]:
    """What went wrong, as a person reads it: the message and each field's complaints."""
    if isinstance(exc, ValidationError):
        fields = exc.normalized_messages()
        return [f"{name}: {_flat(problem)}" for name, problem in fields.items()]
    if isinstance(exc, ServiceError):
        details = [f"{name}: {_flat(problem)}" for name, problem in (exc.fields or {}).items()]
        return [exc.message, *details]
    if isinstance(exc, ApiError):
        return [exc.message]
    return ["The shop cannot answer just now: try again in a moment."]


def _flat(problem: Any) -> str:
    if isinstance(problem, dict):
        return "; ".join(_flat(value) for value in problem.values())
    if isinstance(problem, list):
        return " ".join(_flat(value) for value in problem)
    return str(problem)


def status_of(exc: Exception) -> int:
    if isinstance(exc, ValidationError):
        return 400
    if isinstance(exc, ServiceUnavailable):  # up, but not its database: as if it were down
        return 503
    if isinstance(exc, ServiceError):
        return REMOTE_ERRORS.get(type(exc), (500, ""))[0]
    if isinstance(exc, ApiError):
        return exc.status
    return 503


def call(method: str, service: str, *args: Any, **kwargs: Any) -> Any:
    """An RPC call whose refusal or failure becomes ``Refused``, to be shown on the page."""
    try:
        return getattr(rpc(), method)(service, *args, **kwargs)
    except (ServiceError, ApiError, *UNAVAILABLE) as exc:
        if not isinstance(exc, ServiceError | ApiError):
            _log.warning("page %s: %s.%s failed: %r", request.path, service, args[:1], exc)
        raise Refused(status_of(exc), words(exc)) from None


def form(schema: type[Schema], numbers: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """The posted form through ``schema`` (the API's own), numbers read as numbers."""
    data: dict[str, Any] = {
        name: value
        for name, value in request.form.items()
        if name in instance(schema).fields and value != ""
    }
    for name in numbers:
        if name in data:
            with contextlib.suppress(ValueError):  # else left as text, for the schema to name
                data[name] = int(data[name])
    try:
        return dict(instance(schema).load({**data, **extra}))
    except ValidationError as invalid:
        raise Refused(400, words(invalid)) from None


def signed_in_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages for a signed-in person: anyone else is sent to sign in, and back after."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if session.signed_in() is None:
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("storefront.sign_in_form", next=target), 303)
        if request.method == "POST":
            session.check_csrf()
        return view(*args, **kwargs)

    return wrapper


def admin_page(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = session.signed_in()
        if user is not None and user["role"] != ADMIN:
            return page("error.html", 403, messages=["This page is for the shop's staff."])
        return view(*args, **kwargs)

    return signed_in_page(wrapper)


def _safe_next(target: str | None) -> str:
    # Only a path of this site: never an absolute URL another site could send people to
    # (browsers read "//host" and "/\host" as one), nor anything with control characters.
    if (
        target
        and target.startswith("/")
        and target[1:2] not in ("/", "\\")
        and target.isprintable()
    ):
        return target
    return url_for("storefront.catalogue")


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> tuple[str, int]:
    return page("error.html", exc.status, messages=exc.messages)


@bp.errorhandler(RateLimitExceeded)
def _too_many(exc: RateLimitExceeded) -> tuple[str, int]:
    return page("error.html", 429, messages=[exc.description or "Too many tries: wait a little."])


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    return page("error.html", exc.code or 500, messages=[exc.description or exc.name])


# -- the catalogue ---------------------------------------------------------------------


@bp.get("/")
def catalogue() -> Any:
    try:
        query = instance(CatalogueSearch).load(
            {
                "offset": request.args.get("offset", "0"),
                "limit": str(PAGE_SIZE),
                "q": request.args.get("q") or None,
            }
        )
    except ValidationError as invalid:
        return page("catalogue.html", 400, found=None, q="", problems=words(invalid))
    search = {"q": query["q"]} if query["q"] else {}
    found = call("read", "products", "list_products", query["offset"], PAGE_SIZE, **search)

    def link(offset: int) -> str:
        return url_for("storefront.catalogue") + "?" + urlencode({**search, "offset": offset})

    previous = link(max(query["offset"] - PAGE_SIZE, 0)) if query["offset"] > 0 else None
    following = query["offset"] + PAGE_SIZE
    return page(
        "catalogue.html",
        found=found,
        q=query["q"] or "",
        previous=previous,
        next=link(following) if following < found["total"] else None,
    )


@bp.get("/products/<int:product_id>")
def product(product_id: int) -> Any:
    if not 1 <= product_id <= MAX_ID:
        abort(404, "No such product.")
    return page("product.html", product=call("read", "products", "get_product", product_id))


# -- signing up and in -----------------------------------------------------------------


@bp.get("/signup")
def sign_up_form() -> Any:
    return page("signup.html", values={})


@bp.post("/signup")
@limits.SIGNUPS
def sign_up() -> Any:
    session.check_csrf()
    values = {name: request.form.get(name, "") for name in ("email", "name")}
    try:
        data = form(Registration)
        call("call", "users", "register_user", **data)
        user = call("call", "users", "authenticate", data["email"], data["password"])
    except Refused as refused:
        return page("signup.html", refused.status, values=values, problems=refused.messages)
    answer = redirect(url_for("storefront.catalogue"), 303)
    session.sign_in(answer, user)
    return answer


@bp.get("/signin")
def sign_in_form() -> Any:
    return page("signin.html", next=_safe_next(request.args.get("next")), email="")


@bp.post("/signin")
@limits.LOGINS
def sign_in() -> Any:
    target = _safe_next(request.form.get("next"))
    session.check_csrf()
    email = request.form.get("email", "")
    try:
        data = form(Credentials)
        # The same failed-login guard as the API's (gateway.logins): it counts the attempt
        # as failed when the call raises InvalidCredentials itself.
        with logins().attempt(data["email"], client_ip()):
            user = rpc().call("users", "authenticate", data["email"], data["password"])
    except Refused as refused:
        problems = refused.messages
        return page("signin.html", refused.status, next=target, email=email, problems=problems)
    except (ServiceError, ApiError, *UNAVAILABLE) as exc:  # ApiError: too many failed tries
        problems = words(exc)
        return page("signin.html", status_of(exc), next=target, email=email, problems=problems)
    answer = redirect(target, 303)
    session.sign_in(answer, user)
    return answer


@bp.post("/signout")
def sign_out() -> Any:
    session.check_csrf()
    answer = redirect(url_for("storefront.catalogue"), 303)
    session.sign_out(answer)
    return answer


# -- the cart and checkout -------------------------------------------------------------


@bp.get("/cart")
@signed_in_page
def cart() -> Any:
    return page(
        "cart.html",
        cart=call("read", "orders", "get_cart", g.user["id"]),
        payments=PAYMENT_CHOICES,
        attempt=uuid.uuid4().hex,  # this checkout attempt's key: a double click is one order
    )


@bp.post("/cart/items")
@signed_in_page
def add_to_cart() -> Any:
    item = form(NewCartItem, numbers=("product_id", "quantity"))
    call("call", "orders", "add_to_cart", g.user["id"], item["product_id"], item["quantity"])
    return redirect(url_for("storefront.cart"), 303)


@bp.post("/cart/items/<int:product_id>")
@signed_in_page
def change_cart(product_id: int) -> Any:
    if request.form.get("action") == "remove":
        call("call", "orders", "remove_from_cart", g.user["id"], product_id)
    else:
        quantity = form(NewCartItem, numbers=("product_id", "quantity"), product_id=product_id)
        call("call", "orders", "set_cart_quantity", g.user["id"], product_id, quantity["quantity"])
    return redirect(url_for("storefront.cart"), 303)


@bp.post("/checkout")
@signed_in_page
def checkout() -> Any:
    payment = form(Checkout)
    attempt = request.form.get("attempt", "")
    key = f"{PAGE_KEY_PREFIX}{attempt}" if 8 <= len(attempt) <= 64 else None
    order = call("call", "orders", "checkout_cart", g.user["id"], payment["payment_token"], key)
    return redirect(url_for("storefront.order", order_id=order["id"]), 303)


# -- orders and mail -------------------------------------------------------------------


def _order(order_id: str) -> dict[str, Any]:
    if not 1 <= len(order_id) <= 64:
        abort(404, "No such order.")
    return with_product_names(dict(call("read", "orders", "get_order", order_id, g.user["id"])))


@bp.get("/orders")
@signed_in_page
def orders() -> Any:
    return page("orders.html", orders=call("read", "orders", "list_orders", g.user["id"], 0, 50))


@bp.get("/orders/<order_id>")
@signed_in_page
def order(order_id: str) -> Any:
    found = _order(order_id)
    # What the page waits for: a pending order to settle, a cancellation under way to end.
    cancelling = found["status"] == "confirmed" and request.args.get("cancelling") == "1"
    wait_for = "settled" if found["status"] == "pending" else "cancelled" if cancelling else ""
    return page("order.html", order=found, wait_for=wait_for)


@bp.get("/orders/<order_id>/status")
@signed_in_page
def order_status(order_id: str) -> Any:
    """What the order page's script polls while the saga runs."""
    found = _order(order_id)
    return {"status": found["status"], "cancel_reason": found["cancel_reason"]}


@bp.post("/orders/<order_id>/cancel")
@signed_in_page
def cancel(order_id: str) -> Any:
    order = call("call", "orders", "cancel_order", order_id, g.user["id"])
    # Still confirmed: the refund and the stock's return go on (the API's 202); the page
    # follows them until the order reads cancelled.
    target = url_for("storefront.order", order_id=order_id)
    if order["status"] != "cancelled":
        target += "?cancelling=1"
    return redirect(target, 303)


@bp.get("/notifications")
@signed_in_page
def notifications() -> Any:
    mail = call("read", "notifications", "list_notifications", g.user["id"], 0, 50)
    return page("notifications.html", mail=mail)


# -- the shop's staff ------------------------------------------------------------------


@bp.get("/admin")
@admin_page
def admin() -> Any:
    """The products (those matching ``q``, when given), to change their price and stock."""
    q = request.args.get("q", "").strip()[:100]
    search = {"q": q} if q else {}
    listed = call("read", "products", "list_products", 0, 100, **search)
    return page("admin.html", products=listed, q=q)


@bp.post("/admin/products")
@admin_page
def admin_create() -> Any:
    data = form(NewProduct, numbers=("price_cents", "stock"))
    created = call("call", "products", "create_product", data)
    return redirect(url_for("storefront.admin", q=created["sku"]), 303)


@bp.post("/admin/products/<int:product_id>")
@admin_page
def admin_change(product_id: int) -> Any:
    changes = form(ProductChanges, numbers=("price_cents", "stock"))
    changed = call("call", "products", "update_product", product_id, changes)
    return redirect(url_for("storefront.admin", q=changed["sku"]), 303)


@bp.get("/admin/sales")
@admin_page
def admin_sales() -> Any:
    period = None
    if request.args.get("from") or request.args.get("to"):
        try:
            period = instance(SalesPeriod).load(
                {"from": request.args.get("from", ""), "to": request.args.get("to", "")}
            )
        except ValidationError as invalid:
            raise Refused(400, words(invalid)) from None
    if period is None:
        return page("sales.html", report=None, chart=None, values={})
    report = call(
        "read",
        "orders",
        "sales_report",
        period["date_from"].isoformat(),
        period["date_to"].isoformat(),
    )
    values = {"from": period["date_from"].isoformat(), "to": period["date_to"].isoformat()}
    return page(
        "sales.html", report=report, chart=charts.revenue_by_day(report["items"]), values=values
    )
