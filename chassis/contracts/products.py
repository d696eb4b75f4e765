"""RPC payloads of the products service."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

# The catalogue pages like every list: re-exported for the callers that import them from here.
from chassis.contracts.orders import OrderLine, order_lines
from chassis.contracts.paging import MAX_PAGE as MAX_PAGE
from chassis.contracts.paging import Page as Page
from chassis.contracts.paging import PageQuery

# What the 32-bit price columns hold (over 21 million in currency units): a larger price
# would be refused by the database, and is most likely a unit mistake anyway.
MAX_CENTS = 2**31 - 1
MAX_STOCK = 1_000_000_000

_name = validate.Length(min=1, max=200)
_not_blank = validate.Regexp(r".*\S", error="Must not be blank.")
_price = validate.Range(min=0, max=MAX_CENTS)
_stock = validate.Range(min=0, max=MAX_STOCK)


MAX_SEARCH = 100
_search = fields.Str(
    load_default=None,
    allow_none=True,
    validate=[validate.Length(min=1, max=MAX_SEARCH), _not_blank],
    metadata={
        "description": "Words that each appear in the name or the SKU (case ignored), "
        "e.g. `blue mug`."
    },
)


class CatalogueQuery(Page):
    """``products.list_products``: a page of the catalogue, of the products matching ``q``
    when given."""

    q = _search


class CatalogueSearch(PageQuery):
    """The same, from a query string (``?q=blue+mug&offset=0&limit=20``)."""

    q = _search


class _RefusesReadOnly(Schema):
    """Names read-only fields as such, rather than as unknown ones."""

    read_only: tuple[str, ...] = ("id",)

    @pre_load
    def _refuse_read_only(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            present = [name for name in self.read_only if name in data]
            if present:
                raise ValidationError({name: ["Read-only field."] for name in present})
        return data


class NewProduct(_RefusesReadOnly):
    sku = fields.Str(
        required=True,
        validate=[
            validate.Length(min=1, max=64),
            validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", error="Letters, digits, . _ - only."),
        ],
    )
    name = fields.Str(required=True, validate=[_name, _not_blank])
    description = fields.Str(load_default="", validate=validate.Length(max=5000))
    price_cents = fields.Int(required=True, strict=True, validate=_price)
    stock = fields.Int(load_default=0, strict=True, validate=_stock)


class ProductChanges(_RefusesReadOnly):
    read_only = ("id", "sku")

    name = fields.Str(validate=[_name, _not_blank])
    description = fields.Str(validate=validate.Length(max=5000))
    price_cents = fields.Int(strict=True, validate=_price)
    stock = fields.Int(strict=True, validate=_stock)

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one field to change.", "_schema")


class Product(Schema):
    id = fields.Int(required=True)
    sku = fields.Str(required=True)
    name = fields.Str(required=True)
    description = fields.Str(required=True)
    price_cents = fields.Int(required=True)
    stock = fields.Int(required=True)


class ProductIds(Schema):
    """A batch of products to read at once, as for the names on an order."""

    product_ids = fields.List(
        fields.Int(strict=True, validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(min=1, max=MAX_PAGE),
    )


class Reservation(Schema):
    order_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    items = order_lines()


class ReservedItem(OrderLine):
    price_cents = fields.Int(required=True)  # the unit price when the stock was reserved


class ReservationResult(Schema):
    order_id = fields.Str(required=True)
    status = fields.Str(required=True)  # "reserved", or "released" once given back
    items = fields.List(fields.Nested(ReservedItem), required=True)
