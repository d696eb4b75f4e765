"""An order as it crosses the wire: placed through the gateway, answered by orders, its lines
reserved by products. Every rule of an order line is declared here, once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from chassis.contracts.paging import Page, page_of

MAX_ID = 2**31 - 1
MAX_ORDER_ITEMS = 100
# At most this many units of one product in one order, however many lines ask for it.
MAX_QUANTITY = 10_000
STATUSES = ("pending", "confirmed", "cancelled")

_id = validate.Range(min=1, max=MAX_ID)
_order_id = validate.Length(min=1, max=64)


class OrderLine(Schema):
    """One line of an order: a product and how many of it."""

    product_id = fields.Int(required=True, strict=True, validate=_id)
    quantity = fields.Int(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY)
    )


def order_lines(**options: Any) -> fields.List:
    """An order's list of lines: one at least, ``MAX_ORDER_ITEMS`` at most."""
    return fields.List(
        fields.Nested(OrderLine),
        required=True,
        validate=validate.Length(min=1, max=MAX_ORDER_ITEMS),
        **options,
    )


def check_merged_quantities(items: Iterable[Mapping[str, Any]]) -> None:
    """A ``ValidationError`` naming (under ``items``, by index, as marshmallow keys the errors
    of a list) each line at which a product's quantities, added up over the order, pass
    ``MAX_QUANTITY``; for an order schema's ``validates_schema``."""
    totals: dict[Any, int] = {}
    errors: dict[int, dict[str, list[str]]] = {}
    for index, item in enumerate(items):
        product_id = item.get("product_id")
        before = totals.get(product_id, 0)
        totals[product_id] = before + int(item.get("quantity") or 0)
        if before <= MAX_QUANTITY < totals[product_id]:
            errors[index] = {
                "quantity": [
                    f"The lines of product {product_id} add up to more than {MAX_QUANTITY}."
                ]
            }
    if errors:
        raise ValidationError({"items": errors})


def payment_token() -> fields.Str:
    """How an order is to be paid: a provider's token, never card data."""
    return fields.Str(
        required=True,
        validate=[
            validate.Length(min=1, max=100),
            validate.Regexp(r".*\S", error="Must not be blank."),
        ],
        metadata={"description": "tok_visa, tok_decline, tok_fail or tok_slow (simulated)."},
    )


class OrderPlacement(Schema):
    """What a customer sends to place an order."""

    items = order_lines()
    payment_token = payment_token()

    @validates_schema
    def _merged_within_bounds(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_merged_quantities(data["items"])


class NewOrder(OrderPlacement):
    """``orders.create_order``'s arguments: the placement, whose it is, and its key."""

    user_id = fields.Int(required=True, strict=True, validate=_id)
    idempotency_key = fields.Str(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=255)
    )


class OrderRef(Schema):
    order_id = fields.Str(required=True, validate=_order_id)
    user_id = fields.Int(load_default=None, allow_none=True, strict=True, validate=_id)


class UserPage(Page):
    user_id = fields.Int(required=True, strict=True, validate=_id)


class PricedLine(OrderLine):
    price_cents = fields.Int(
        required=True, allow_none=True, metadata={"description": "Unit price; null until reserved."}
    )
    name = fields.Str(metadata={"description": "On a single order, when products answers in time."})


class Order(Schema):
    id = fields.Str(required=True, metadata={"format": "uuid"})
    user_id = fields.Int(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    cancel_reason = fields.Str(
        required=True,
        allow_none=True,
        metadata={
            "description": "out_of_stock, unknown_product, payment_declined, payment_failed, "
            "user_cancelled, expired or rejected; null unless cancelled."
        },
    )
    items = fields.List(fields.Nested(PricedLine), required=True)
    total_cents = fields.Int(required=True, allow_none=True)
    created_at = fields.DateTime(required=True, format="iso")

    @post_dump
    def _reason_once_cancelled(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # An order being compensated stands as it was until the compensation ends: a reader
        # never sees a confirmed order with a cancellation reason.
        if data.get("status") != "cancelled":
            data["cancel_reason"] = None
        return data


OrderPage = page_of(Order)
