"""What the shop tells its users, as plain Python: the subject and body of each message."""

from __future__ import annotations

from dataclasses import dataclass

# Why an order was cancelled, in the customer's words. A reason missing here is shown as sent.
CANCELLATION_REASONS = {
    "out_of_stock": "some items were out of stock",
    "payment_declined": "your payment was declined",
    "payment_failed": "the payment could not be processed",
    "user_cancelled": "you cancelled it",
    "expired": "it could not be completed in time",
    "rejected": "it could not be processed as placed",
}

ORDER_REF_LENGTH = 8


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def money(cents: int) -> str:
    """An amount in cents as units with two decimals: ``123456`` → ``"1,234.56"``."""
    units, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}{units:,}.{rest:02d}"


def order_ref(order_id: str) -> str:
    """The short form of an order id that fits in a subject line."""
    return order_id[:ORDER_REF_LENGTH]


def cancellation_reason(reason: str) -> str:
    return CANCELLATION_REASONS.get(reason, reason)


def message_id(event_id: str, sender: str) -> str:
    """A Message-ID made from the event that caused the message."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{event_id}@{domain}>"


def welcome(name: str) -> Message:
    """The mail to an address an account was just opened for. Anyone can open an account for
    any address, so what the registrant typed is never in the subject (a mail's headline, as
    the recipient's mail client shows it), and the body shows it only as a name, quoted."""
    return Message(
        subject="Welcome to the shop",
        body=(
            "Hello,\n\n"
            f"An account at the shop was opened for this address, in the name {quoted(name)}. "
            "You can now sign in and place orders.\n\n"
            "If you did not open it, you can ignore this message.\n"
        ),
    )


def quoted(text: str) -> str:
    """``text`` between quotation marks, its own quotation marks and line breaks made harmless,
    so it reads as one quoted value whatever it holds."""
    flat = " ".join(text.split())
    return '"' + flat.replace('"', "'") + '"'


def order_confirmed(order_id: str, total_cents: int) -> Message:
    return Message(
        subject=f"Your order {order_ref(order_id)} is confirmed",
        body=(
            "Hello,\n\n"
            f"Your order {order_id} is confirmed. Total: {money(total_cents)}.\n\n"
            "Thank you for shopping with us.\n"
        ),
    )


def order_cancelled(order_id: str, total_cents: int, reason: str) -> Message:
    return Message(
        subject=f"Your order {order_ref(order_id)} was cancelled",
        body=(
            "Hello,\n\n"
            f"Your order {order_id} ({money(total_cents)}) was cancelled because "
            f"{cancellation_reason(reason)}.\n"
        ),
    )


def payment_declined(order_id: str, amount_cents: int, reason: str) -> Message:
    return Message(
        subject=f"Your payment for order {order_ref(order_id)} was declined",
        body=(
            "Hello,\n\n"
            f"Your payment of {money(amount_cents)} for order {order_id} was declined "
            f"({reason}).\n"
        ),
    )
