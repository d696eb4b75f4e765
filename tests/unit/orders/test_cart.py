"""The cart's rules (``orders.cart``) and when an order gives its lines back to the cart."""

from datetime import UTC, datetime

import pytest

from chassis.contracts.cart import MAX_CART_LINES, SHORT, UNKNOWN_PRODUCT
from chassis.contracts.orders import MAX_QUANTITY
from orders import domain
from orders.cart import CartRefusal, added, priced

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def test_adding_to_a_line_adds_up_within_an_orders_bound():
    assert added(None, 3, lines=0) == 3
    assert added(3, 2, lines=1) == 5
    assert added(MAX_QUANTITY - 1, 1, lines=1) == MAX_QUANTITY
    with pytest.raises(CartRefusal) as refused:
        added(MAX_QUANTITY, 1, lines=1)
    assert refused.value.field == "quantity"


def test_a_full_cart_takes_more_of_what_it_holds_but_no_new_product():
    assert added(1, 1, lines=MAX_CART_LINES) == 2
    with pytest.raises(CartRefusal) as refused:
        added(None, 1, lines=MAX_CART_LINES)
    assert refused.value.field == "product_id"


def test_a_cart_is_priced_today_and_says_what_cannot_be_ordered():
    products = {
        1: {"id": 1, "name": "Mug", "price_cents": 900, "stock": 5},
        2: {"id": 2, "name": "Lamp", "price_cents": 50, "stock": 1},
    }
    cart = priced([(2, 3), (1, 2), (9, 1)], products)
    assert [(i["product_id"], i["problem"]) for i in cart["items"]] == [
        (2, SHORT),
        (1, None),
        (9, UNKNOWN_PRODUCT),
    ]
    assert cart["items"][1] == {
        "product_id": 1,
        "quantity": 2,
        "name": "Mug",
        "price_cents": 900,
        "stock": 5,
        "line_total_cents": 1800,
        "problem": None,
    }
    assert cart["items"][2]["name"] is None and cart["items"][2]["line_total_cents"] is None
    # Only what can be ordered counts in the total; every unit in the count.
    assert (cart["units"], cart["total_cents"], cart["can_check_out"]) == (6, 1800, False)
    assert priced([(1, 5)], products)["can_check_out"] is True
    assert priced([], products) == {
        "items": [],
        "units": 0,
        "total_cents": 0,
        "can_check_out": False,
    }


def checked_out(token="tok_visa"):
    lines = [{"product_id": 1, "quantity": 2}]
    return domain.Order.place("o-1", 7, lines, token, created_at=NOW, from_cart=True)


def test_a_refused_order_from_the_cart_gives_its_lines_back_once_cancelled():
    order = checked_out()
    order.refused(domain.OUT_OF_STOCK)
    assert not order.gives_back_cart  # compensating still
    order.compensated(NOW)
    assert order.gives_back_cart


def test_a_confirmed_order_cancelled_by_its_owner_gives_nothing_back():
    order = checked_out()
    order.reserved({1: 900})
    order.charge_answered("approved", NOW)
    order.cancel()
    order.compensated(NOW)
    assert order.status == domain.CANCELLED and not order.gives_back_cart


def test_an_order_placed_directly_has_no_cart_to_give_back_to():
    order = domain.Order.place("o-2", 7, [{"product_id": 1, "quantity": 1}], "t", created_at=NOW)
    order.refused(domain.OUT_OF_STOCK)
    order.compensated(NOW)
    assert not order.gives_back_cart
