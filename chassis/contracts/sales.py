"""One row of the sales report the orders service answers (``sales_report``), which the
gateway passes through and documents."""

from __future__ import annotations

from marshmallow import Schema, fields


class SalesRow(Schema):
    day = fields.Date(required=True, metadata={"description": "UTC day of confirmation."})
    product_id = fields.Int(required=True)
    units = fields.Int(required=True)
    revenue_cents = fields.Int(required=True)
