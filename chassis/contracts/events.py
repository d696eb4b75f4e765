"""Event contracts: the name and the payload schema of every event in the cluster.

Events are JSON-safe dicts, validated when dispatched and when handled. Each carries an
``event_id`` (so a consumer can drop a duplicate delivery) and ``occurred_at``. A contract
changes only by adding optional fields; consumers ignore fields they do not know.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from chassis.errors import InvalidInput

# users
USER_REGISTERED = "user_registered"
# orders
ORDER_CREATED = "order_created"
ORDER_CONFIRMED = "order_confirmed"
ORDER_CANCELLED = "order_cancelled"
# payments
PAYMENT_SUCCEEDED = "payment_succeeded"
PAYMENT_DECLINED = "payment_declined"
PAYMENT_FAILED = "payment_failed"
PAYMENT_REFUNDED = "payment_refunded"


class EventSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a newer producer may add fields

    event_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    occurred_at = fields.DateTime(required=True, format="iso")


class UserRegistered(EventSchema):
    user_id = fields.Int(required=True, strict=True)
    email = fields.Email(required=True)
    name = fields.Str(required=True)
    role = fields.Str(required=True)


class OrderItem(Schema):
    """A line of an order as it was placed: a fact, so not held to today's input bounds."""

    product_id = fields.Int(required=True, strict=True)
    quantity = fields.Int(required=True, strict=True)
    # The unit price reserved; null only in the cancellation of an order whose stock was
    # never reserved.
    price_cents = fields.Int(required=True, strict=True, allow_none=True)


class OrderEvent(EventSchema):
    order_id = fields.Str(required=True)
    user_id = fields.Int(required=True, strict=True)
    items = fields.List(fields.Nested(OrderItem), required=True)
    total_cents = fields.Int(required=True, strict=True)


class OrderCreated(OrderEvent):
    pass


class OrderConfirmed(OrderEvent):
    confirmed_at = fields.DateTime(required=True, format="iso")


class OrderCancelled(OrderEvent):
    reason = fields.Str(required=True)
    # Set when the order had been confirmed before: its sales must be taken back out.
    confirmed_at = fields.DateTime(required=True, allow_none=True, format="iso")


class PaymentEvent(EventSchema):
    order_id = fields.Str(required=True)
    user_id = fields.Int(required=True, allow_none=True, strict=True)
    amount_cents = fields.Int(required=True, strict=True)


class PaymentSucceeded(PaymentEvent):
    provider_ref = fields.Str(required=True)


class PaymentDeclined(PaymentEvent):
    reason = fields.Str(required=True)


class PaymentFailed(PaymentEvent):
    reason = fields.Str(required=True)


class PaymentRefunded(PaymentEvent):
    pass


SCHEMAS: dict[str, type[EventSchema]] = {
    USER_REGISTERED: UserRegistered,
    ORDER_CREATED: OrderCreated,
    ORDER_CONFIRMED: OrderConfirmed,
    ORDER_CANCELLED: OrderCancelled,
    PAYMENT_SUCCEEDED: PaymentSucceeded,
    PAYMENT_DECLINED: PaymentDeclined,
    PAYMENT_FAILED: PaymentFailed,
    PAYMENT_REFUNDED: PaymentRefunded,
}

# The service whose ``<service>.events`` exchange carries each event type.
SOURCES: dict[str, str] = {
    USER_REGISTERED: "users",
    ORDER_CREATED: "orders",
    ORDER_CONFIRMED: "orders",
    ORDER_CANCELLED: "orders",
    PAYMENT_SUCCEEDED: "payments",
    PAYMENT_DECLINED: "payments",
    PAYMENT_FAILED: "payments",
    PAYMENT_REFUNDED: "payments",
}


@functools.cache
def _instance(event_type: str) -> EventSchema:
    return SCHEMAS[event_type]()


def make_event(event_type: str, **payload: Any) -> dict[str, Any]:
    """Build an event payload with a fresh id, validated against its contract."""
    body = {
        "event_id": uuid.uuid4().hex,
        "occurred_at": datetime.now(UTC).isoformat(),
        **payload,
    }
    errors = _instance(event_type).validate(body)
    if errors:
        raise ValueError(f"{event_type} breaks its contract: {errors}")
    return body


def parse_event(event_type: str, body: Any) -> dict[str, Any]:
    """Validate a received event against its contract; ``InvalidInput`` when it breaks it.

    The dict returned is the body as sent (JSON types), less the fields this side does not know.
    """
    if not isinstance(body, dict):
        raise InvalidInput(f"{event_type} is not an object", {"_schema": ["Expected an object."]})
    schema = _instance(event_type)
    errors = schema.validate(body)
    if errors:
        raise InvalidInput(f"{event_type} breaks its contract", errors)
    known = set(schema.fields)
    return {key: value for key, value in body.items() if key in known}
