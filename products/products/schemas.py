"""The products service's RPC schemas: its contract plus the arguments of single-value calls."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from chassis.contracts.products import (
    CatalogueQuery,
    NewProduct,
    Page,
    Product,
    ProductChanges,
    ProductIds,
    Reservation,
    ReservationResult,
)

__all__ = [
    "CatalogueQuery",
    "NewProduct",
    "Page",
    "Product",
    "ProductChanges",
    "ProductId",
    "ProductIds",
    "Reservation",
    "ReservationResult",
    "OrderId",
]


class ProductId(Schema):
    product_id = fields.Int(required=True, strict=True, validate=validate.Range(min=1))


class OrderId(Schema):
    order_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
