"""The signed-in customer's cart, kept by orders: read with today's prices and stock, changed
line by line or as a whole, and checked out into an order through the same saga."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g

from chassis.contracts.cart import Cart, CartContents, CartQuantity, Checkout, NewCartItem
from chassis.contracts.orders import Order
from gateway import limits
from gateway.api import Blueprint, path_parameter
from gateway.context import idempotency, rpc
from gateway.errors import ApiError
from gateway.idempotency import KeyHeader
from gateway.routes.orders import (
    GATEWAY_KEY_PREFIX,
    PENDING,
    PLACED_HEADERS,
    STILL_PENDING,
    order_location,
)
from gateway.schemas import MAX_ID, no_body

bp = Blueprint("cart", __name__, url_prefix="/api/v1/cart")

PRODUCT_ID = path_parameter("product_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID})
THE_CART = "The cart, with today's prices and stock."
NOT_IN_CART = "The cart holds no line for this product (`cart_item_not_found`)."


def _in_range(product_id: int) -> int:
    if not 1 <= product_id <= MAX_ID:
        raise ApiError(404, "cart_item_not_found", f"The cart holds no product {product_id}")
    return product_id


@bp.get("")
@bp.auth()
@bp.alt_response(200, schema=Cart, description=THE_CART, success=True)
@bp.errors(503, 504)
def get_cart() -> Any:
    """The caller's cart

    Each line tells its `problem`: `unknown_product` (gone from the catalogue) or `short`
    (fewer in stock than asked).
    """
    return rpc().read("orders", "get_cart", g.user["id"])


@bp.put("")
@bp.auth()
@bp.arguments(CartContents)
@bp.alt_response(200, schema=Cart, description=THE_CART, success=True)
@bp.errors(422, description="A product does not exist (`unknown_product`).")
@bp.errors(413, 503, 504)
def replace_cart(contents: dict[str, Any]) -> Any:
    """Replace the caller's cart with these lines"""
    return rpc().call("orders", "replace_cart", g.user["id"], contents["items"])


@bp.delete("")
@bp.auth()
@bp.alt_response(200, schema=Cart, description="The cart, empty.", success=True)
@bp.errors(400, description="A body was sent: this route takes none (or `{}`).")
@bp.errors(413, 503, 504)
def clear_cart() -> Any:
    """Empty the caller's cart"""
    no_body()
    return rpc().call("orders", "clear_cart", g.user["id"])


@bp.post("/items")
@bp.auth()
@bp.arguments(KeyHeader, location="headers")
@bp.arguments(NewCartItem)
@bp.alt_response(200, schema=Cart, description=THE_CART, success=True)
@bp.errors(
    409,
    description="A request with this Idempotency-Key is still in progress (`request_in_progress`).",
)
@bp.errors(
    422,
    description="The product does not exist (`unknown_product`), the cart holds as many "
    "products as an order may (`cart_full`), or the Idempotency-Key was used for another "
    "request (`idempotency_key_reused`).",
)
@bp.errors(413, 503, 504)
def add_to_cart(headers: dict[str, str], item: dict[str, Any]) -> Any:
    """Add a product to the caller's cart

    Added to the product's line when the cart has one. With an `Idempotency-Key`, a retried
    request adds nothing more.
    """

    def add() -> Any:
        cart = rpc().call(
            "orders", "add_to_cart", g.user["id"], item["product_id"], item["quantity"]
        )
        return cart, 200

    return idempotency().once(g.user["id"], headers.get("key"), add)


@bp.patch("/items/<int:product_id>", parameters=[PRODUCT_ID])
@bp.auth()
@bp.arguments(CartQuantity)
@bp.alt_response(200, schema=Cart, description=THE_CART, success=True)
@bp.errors(404, description=NOT_IN_CART)
@bp.errors(413, 503, 504)
def set_quantity(change: dict[str, int], product_id: int) -> Any:
    """Set how many of a product the caller's cart holds"""
    return rpc().call(
        "orders", "set_cart_quantity", g.user["id"], _in_range(product_id), change["quantity"]
    )


@bp.delete("/items/<int:product_id>", parameters=[PRODUCT_ID])
@bp.auth()
@bp.alt_response(200, schema=Cart, description=THE_CART, success=True)
@bp.errors(400, description="A body was sent: this route takes none (or `{}`).")
@bp.errors(404, description="Not a product id at all (`not_found`).")
@bp.errors(413, 503, 504)
def remove_from_cart(product_id: int) -> Any:
    """Remove a product from the caller's cart (nothing to remove is no error)"""
    no_body()
    if not 1 <= product_id <= MAX_ID:  # could not be in any cart
        return rpc().read("orders", "get_cart", g.user["id"])
    return rpc().call("orders", "remove_from_cart", g.user["id"], product_id)


@bp.post("/checkout")
@bp.limit(limits.ORDERS)
@bp.auth()
@bp.arguments(KeyHeader, location="headers")
@bp.arguments(Checkout)
@bp.alt_response(
    201,
    schema=Order,
    description="Settled: confirmed, or cancelled with its reason (its lines are back in the "
    "cart then).",
    headers=PLACED_HEADERS,
    success=True,
)
@bp.alt_response(202, **STILL_PENDING)
@bp.errors(
    409,
    description="The cart is empty (`cart_empty`), or a request with this Idempotency-Key is "
    "still in progress (`request_in_progress`).",
)
@bp.errors(
    422,
    description="A product in the cart no longer exists (`unknown_product`; the cart keeps "
    "its lines), or the Idempotency-Key was used for another request "
    "(`idempotency_key_reused`).",
)
@bp.errors(413, 503, 504)
def checkout(headers: dict[str, str], payment: dict[str, Any]) -> Any:
    """Order what the caller's cart holds

    The order is placed and the cart emptied at once; the order then goes through the saga as
    any order does. Refused before it is confirmed (no stock, a declined payment), its lines
    go back into the cart. Send an `Idempotency-Key`: a double click places one order.
    """
    key = headers.get("key")
    service_key = key or f"{GATEWAY_KEY_PREFIX}{uuid.uuid4()}"

    def place() -> Any:
        order = rpc().call(
            "orders", "checkout_cart", g.user["id"], payment["payment_token"], service_key
        )
        return order, 202 if order["status"] == PENDING else 201, order_location(order)

    return idempotency().once(g.user["id"], key, place)
