"""Orders: placed with an optional Idempotency-Key, read back with product names added."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from flask import Blueprint, g

from gateway import schemas
from gateway.auth import login_required
from gateway.context import idempotency, rpc, settings
from gateway.errors import ApiError
from gateway.idempotency import header_key

_log = logging.getLogger(__name__)

bp = Blueprint("orders", __name__, url_prefix="/api/v1/orders")

PENDING = "pending"
GATEWAY_KEY_PREFIX = "gateway:"  # a key the gateway made for a request that came without one
CANCELLED = "cancelled"
_ORDER_ID = re.compile(r"[0-9a-f-]{1,64}")


def _known_id(order_id: str) -> str:
    # Anything else cannot be an order id: answer as for any unknown order, without a call.
    if not _ORDER_ID.fullmatch(order_id):
        raise ApiError(404, "order_not_found", "No such order")
    return order_id


def _location(order: dict[str, Any]) -> dict[str, str]:
    return {"Location": f"/api/v1/orders/{order['id']}"}


@bp.post("")
@login_required
def create_order():
    key = header_key()
    # Validated before the key is claimed: a refused body leaves the key free for the
    # corrected request.
    data = schemas.body(schemas.NewOrder())

    # orders keys the order on it: a request redelivered to orders (its process died before
    # answering) finds the order it placed instead of placing and charging a second one.
    service_key = key or f"{GATEWAY_KEY_PREFIX}{uuid.uuid4()}"

    def place():
        order = rpc().call(
            "orders",
            "create_order",
            g.user["id"],
            data["items"],
            data["payment_token"],
            service_key,
        )
        # Still pending: accepted, and its Location is where to watch it settle.
        return order, 202 if order["status"] == PENDING else 201, _location(order)

    return idempotency().once(g.user["id"], key, place)


@bp.get("")
@login_required
def list_orders():
    page = schemas.query(schemas.PageQuery())
    return rpc().read("orders", "list_orders", g.user["id"], page["offset"], page["limit"])


@bp.get("/<order_id>")
@login_required
def get_order(order_id: str):
    order = rpc().read("orders", "get_order", _known_id(order_id), g.user["id"])
    return _with_product_names(order)


@bp.post("/<order_id>/cancel")
@login_required
def cancel_order(order_id: str):
    schemas.no_body()
    order = rpc().call("orders", "cancel_order", _known_id(order_id), g.user["id"])
    # Not cancelled yet: the refund and the stock's return go on, watched at Location.
    return order, 200 if order["status"] == CANCELLED else 202, _location(order)


def _with_product_names(order: dict[str, Any]) -> dict[str, Any]:
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
