"""The sales report: asked of orders (``sales_report``) through the gateway, which passes the
answer through and documents it."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validates_schema

MAX_SALES_DAYS = 366  # a report covers at most a (leap) year, both ends included


class SalesQuery(Schema):
    """A range of days, both included: ``date_from`` to ``date_to``."""

    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)

    @validates_schema
    def _a_range(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data["date_from"], data["date_to"]
        to = self.fields["date_to"].data_key or "date_to"
        if end < start:
            raise ValidationError(
                f"Must not be before {self.fields['date_from'].data_key or 'date_from'}.", to
            )
        if (end - start).days + 1 > MAX_SALES_DAYS:
            raise ValidationError(f"The range may cover at most {MAX_SALES_DAYS} days.", to)


class SalesRow(Schema):
    day = fields.Date(required=True, metadata={"description": "UTC day of confirmation."})
    product_id = fields.Int(required=True)
    units = fields.Int(required=True)
    revenue_cents = fields.Int(required=True)


class SalesReport(Schema):
    items = fields.List(fields.Nested(SalesRow), required=True)
