"""A customer's cart as it crosses the wire: kept by orders (one per user, server-side), changed
through the gateway, checked out into an order. Its lines obey an order line's rules
(``chassis.contracts.orders.OrderLine``): a cart is an order not placed yet."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from chassis.contracts.orders import (
    MAX_ID,
    MAX_ORDER_ITEMS,
    MAX_QUANTITY,
    OrderLine,
    payment_token,
)

# A cart holds at most as many products as an order may.
MAX_CART_LINES = MAX_ORDER_ITEMS
# What may be wrong with a line when the cart is read.
UNKNOWN_PRODUCT = "unknown_product"  # the product is gone from the catalogue
SHORT = "short"  # fewer in stock than the line asks for
PROBLEMS = (UNKNOWN_PRODUCT, SHORT)

_id = validate.Range(min=1, max=MAX_ID)
_quantity = validate.Range(min=1, max=MAX_QUANTITY)


# -- HTTP bodies


class NewCartItem(Schema):
    """``POST /cart/items``: a product to add, and how many (one unless said)."""

    product_id = fields.Int(required=True, strict=True, validate=_id)
    quantity = fields.Int(load_default=1, strict=True, validate=_quantity)


class CartQuantity(Schema):
    """``PATCH /cart/items/{product_id}``: the line's new quantity."""

    quantity = fields.Int(required=True, strict=True, validate=_quantity)


class CartContents(Schema):
    """``PUT /cart``: the whole cart, replacing what it held."""

    items = fields.List(
        fields.Nested(OrderLine), required=True, validate=validate.Length(max=MAX_CART_LINES)
    )


class Checkout(Schema):
    """``POST /cart/checkout``: how to pay for what the cart holds."""

    payment_token = payment_token()


# -- RPC arguments of orders' cart calls


class CartOwner(Schema):
    user_id = fields.Int(required=True, strict=True, validate=_id)


class CartAddition(CartOwner, NewCartItem):
    pass


class CartLineChange(CartOwner):
    product_id = fields.Int(required=True, strict=True, validate=_id)
    quantity = fields.Int(required=True, strict=True, validate=_quantity)


class CartLineRef(CartOwner):
    product_id = fields.Int(required=True, strict=True, validate=_id)


class CartReplacement(CartOwner, CartContents):
    pass


class CartCheckout(CartOwner, Checkout):
    idempotency_key = fields.Str(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=255)
    )


# -- what the cart calls answer


class CartLine(Schema):
    product_id = fields.Int(required=True)
    quantity = fields.Int(required=True)
    name = fields.Str(required=True, allow_none=True)
    price_cents = fields.Int(
        required=True, allow_none=True, metadata={"description": "Today's unit price."}
    )
    stock = fields.Int(required=True, allow_none=True)
    line_total_cents = fields.Int(required=True, allow_none=True)
    problem = fields.Str(
        required=True,
        allow_none=True,
        validate=validate.OneOf(PROBLEMS),
        metadata={
            "description": "`unknown_product` (gone from the catalogue: remove it) or `short` "
            "(fewer in stock than asked); null when the line can be ordered."
        },
    )


class Cart(Schema):
    """The cart with today's prices and stock, read from products when the cart is read."""

    items = fields.List(fields.Nested(CartLine), required=True)
    units = fields.Int(required=True, metadata={"description": "Units over every line."})
    total_cents = fields.Int(
        required=True, metadata={"description": "What the lines without a problem cost today."}
    )
    can_check_out = fields.Bool(
        required=True, metadata={"description": "Not empty, and no line has a problem."}
    )
