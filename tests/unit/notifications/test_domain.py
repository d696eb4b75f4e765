import pytest

from notifications import domain


@pytest.mark.parametrize(
    ("cents", "shown"),
    [(0, "0.00"), (5, "0.05"), (1200, "12.00"), (123456, "1,234.56"), (-250, "-2.50")],
)
def test_money_shows_cents_as_units_with_two_decimals(cents, shown):
    assert domain.money(cents) == shown


def test_welcome_keeps_the_chosen_name_out_of_the_subject_and_quotes_it_in_the_body():
    message = domain.welcome('pay at http://evil.example/x now\nSubject: "urgent"')
    assert message.subject == "Welcome to the shop"
    assert message.body.startswith("Hello,\n")
    assert "in the name \"pay at http://evil.example/x now Subject: 'urgent'\"." in message.body


def test_order_confirmed_names_the_order_and_its_total():
    message = domain.order_confirmed("1a2b3c4d5e6f", 4999)
    assert message.subject == "Your order 1a2b3c4d is confirmed"
    assert "Your order 1a2b3c4d5e6f is confirmed. Total: 49.99." in message.body


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("out_of_stock", "some items were out of stock"),
        ("payment_declined", "your payment was declined"),
        ("payment_failed", "the payment could not be processed"),
        ("user_cancelled", "you cancelled it"),
        ("rejected", "it could not be processed as placed"),
        ("warehouse flooded", "warehouse flooded"),
    ],
)
def test_order_cancelled_gives_the_reason_in_words(reason, words):
    message = domain.order_cancelled("9f8e7d6c5b4a", 1500, reason)
    assert message.subject == "Your order 9f8e7d6c was cancelled"
    assert f"Your order 9f8e7d6c5b4a (15.00) was cancelled because {words}." in message.body


def test_payment_declined_names_the_amount_and_the_reason():
    message = domain.payment_declined("abcdef0123", 2500, "insufficient_funds")
    assert message.subject == "Your payment for order abcdef01 was declined"
    assert "Your payment of 25.00 for order abcdef0123 was declined (insufficient_funds)." in (
        message.body
    )


def test_message_id_is_fixed_by_the_event_and_the_sender_domain():
    assert domain.message_id("e1", "shop@example.com") == "<e1@example.com>"
    assert domain.message_id("e1", "shop@example.com") == domain.message_id("e1", "x@example.com")
