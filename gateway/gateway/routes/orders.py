"""Orders: placed with an optional Idempotency-Key, read back with product names added."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from flask import g

from chassis.contracts.orders import Order, OrderPage, OrderPlacement
from chassis.contracts.paging import PageQuery
from gateway import limits
from gateway.api import LOCATION, Blueprint, path_parameter
from gateway.context import idempotency, rpc, settings
from gateway.errors import ApiError
from gateway.idempotency import REPLAYED_HEADER, KeyHeader
from gateway.schemas import no_body

_log = logging.getLogger(__name__)

bp = Blueprint("orders", __name__, url_prefix="/api/v1/orders")

PENDING = "pending"
GATEWAY_KEY_PREFIX = "gateway:"  # a key the gateway made for a request that came without one
CANCELLED = "cancelled"
_ORDER_ID = re.compile(r"[0-9a-f-]{1,64}")

ORDER_ID = path_parameter("order_id", {"type": "string", "format": "uuid"})
NOT_FOUND = "No such order, or not the caller's (`order_not_found`)."
PLACED_HEADERS = {
    **LOCATION,
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


# The answer of a route that places an order, while the order is still on its way.
STILL_PENDING = {
    "schema": Order,
    "description": "Accepted, still pending: watch it at Location until it settles.",
    "headers": PLACED_HEADERS,
    "success": True,
}


def _known_id(order_id: str) -> str:
    # Anything else cannot be an order id: answer as for any unknown order, without a call.
    if not _ORDER_ID.fullmatch(order_id):
        raise ApiError(404, "order_not_found", "No such order")
    return order_id


def order_location(order: dict[str, Any]) -> dict[str, str]:
    return {"Location": f"/api/v1/orders/{order['id']}"}


@bp.post("")
@bp.limit(limits.ORDERS)
@bp.auth()
@bp.arguments(KeyHeader, location="headers")
# Read before the key is claimed: a refused body leaves the key free for the corrected request.
@bp.arguments(OrderPlacement)
@bp.alt_response(
    201,
    schema=Order,
    description="Settled: confirmed, or cancelled with its reason.",
    headers=PLACED_HEADERS,
    success=True,
)
@bp.alt_response(202, **STILL_PENDING)
@bp.errors(
    409,
    description="A request with this Idempotency-Key is still in progress (`request_in_progress`).",
)
@bp.errors(
    422,
    description="A product does not exist (`unknown_product`), a service refused the order "
    "(`order_rejected`), or the Idempotency-Key was used for another request "
    "(`idempotency_key_reused`).",
)
@bp.errors(503, 504)
def create_order(headers: dict[str, str], placement: dict[str, Any]) -> Any:
    """Place an order

    Prices come from the catalogue. The saga runs for up to a few seconds while the client
    waits; an order not settled by then is answered 202, pending.
    """
    key = headers.get("key")
    # orders keys the order on it: a request redelivered to orders (its process died before
    # answering) finds the order it placed instead of placing and charging a second one.
    service_key = key or f"{GATEWAY_KEY_PREFIX}{uuid.uuid4()}"

    def place() -> Any:
        order = rpc().call(
            "orders",
            "create_order",
            g.user["id"],
            placement["items"],
            placement["payment_token"],
            service_key,
        )
        # Still pending: accepted, and its Location is where to watch it settle.
        return order, 202 if order["status"] == PENDING else 201, order_location(order)

    return idempotency().once(g.user["id"], key, place)


@bp.get("")
@bp.auth()
@bp.arguments(PageQuery, location="query")
@bp.alt_response(200, schema=OrderPage, description="The page.", success=True)
@bp.errors(503, 504)
def list_orders(page: dict[str, int]) -> Any:
    """A page of the caller's orders, newest first"""
    return rpc().read("orders", "list_orders", g.user["id"], page["offset"], page["limit"])


@bp.get("/<order_id>", parameters=[ORDER_ID])
@bp.auth()
@bp.alt_response(200, schema=Order, description="The order.", success=True)
@bp.errors(404, description=NOT_FOUND)
@bp.errors(503, 504)
def get_order(order_id: str) -> Any:
    """One of the caller's orders, with product names"""
    order = rpc().read("orders", "get_order", _known_id(order_id), g.user["id"])
    return with_product_names(order)


@bp.post("/<order_id>/cancel", parameters=[ORDER_ID])
@bp.auth()
@bp.alt_response(
    200, schema=Order, description="The order, cancelled.", headers=LOCATION, success=True
)
@bp.alt_response(
    202,
    schema=Order,
    description="Accepted: the refund and the return of the stock go on; the order still "
    "stands as confirmed until they end. Watch it at Location.",
    headers=LOCATION,
    success=True,
)
@bp.errors(400, description="A body was sent: this route takes none (or `{}`).")
@bp.errors(404, description=NOT_FOUND)
@bp.errors(
    409,
    description="Still pending, already cancelled, or being cancelled by another request "
    "(`order_not_cancellable`).",
)
@bp.errors(413, 503, 504)
def cancel_order(order_id: str) -> Any:
    """Cancel one of the caller's confirmed orders: refunded, stock given back"""
    no_body()
    order = rpc().call("orders", "cancel_order", _known_id(order_id), g.user["id"])
    # Not cancelled yet: the refund and the stock's return go on, watched at Location.
    return order, 200 if order["status"] == CANCELLED else 202, order_location(order)


def with_product_names(order: dict[str, Any]) -> dict[str, Any]:
    """The order with each item's product name, when the products service tells them in time.

    Names are a convenience: without them the order is still right, so any failure here costs
    the names only.
    """
    product_ids = list(dict.fromkeys(item["product_id"] for item in order.get("items", [])))
    if not product_ids:
        return order
    try:
        found = rpc().call_within(
            settings().optional_rpc_timeout, "products", "get_products", product_ids
        )
        names = {product["id"]: product["name"] for product in found["items"]}
    except Exception as exc:
        _log.warning("order %s served without product names: %r", order.get("id"), exc)
        return order
    items = [
        {**item, "name": names[item["product_id"]]} if item["product_id"] in names else item
        for item in order["items"]
    ]
    return {**order, "items": items}
