"""The cart, kept by orders in its database, over the real broker with the real products and
payments services: today's prices, its bounds, two tabs at once, and checkout through the saga
(the cart emptied with the order placed, and given back when the order is refused)."""

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import create_engine

from chassis.contracts.cart import MAX_CART_LINES
from chassis.contracts.orders import MAX_QUANTITY
from chassis.errors import InvalidInput
from orders.exceptions import CartEmpty, CartFull, CartItemNotFound, UnknownProduct
from orders.service import OrdersService
from payments.service import PaymentsService
from products.service import ProductsService
from tests.integration.test_orders import SAGA_SETTINGS, call, product, stock_of, user_id


@pytest.fixture
def config(service_config):
    return {**service_config, **SAGA_SETTINGS}


@pytest.fixture
def runner(runner_factory, config):
    runner = runner_factory(config, OrdersService, ProductsService, PaymentsService)
    runner.start()
    return runner


def at_once(config, calls):
    """Each ``(method, *args)`` of ``calls`` to orders at the same time, each through a client
    of its own (as two browser tabs would): what each answered, or the error it raised."""

    def send(call):
        method, *args = call
        with ServiceRpcProxy("orders", config, timeout=30) as orders:
            try:
                return getattr(orders, method)(*args)
            except Exception as exc:
                return exc

    return list(eventlet.GreenPool(len(calls)).imap(send, calls))


@pytest.fixture
def products_db(databases):
    engine = create_engine(databases["products"])
    yield engine
    engine.dispose()


def cart_of(runner, user):
    return call(runner, "orders", "get_cart", user)


def lines(cart):
    return [(item["product_id"], item["quantity"]) for item in cart["items"]]


def test_a_cart_is_read_with_todays_prices_and_says_what_is_wrong(runner):
    user = user_id()
    mug, lamp = product(runner, stock=5, price_cents=900), product(runner, stock=1, price_cents=50)
    call(runner, "orders", "add_to_cart", user, mug["id"], 2)
    cart = call(runner, "orders", "add_to_cart", user, lamp["id"], 3)
    assert lines(cart) == [(mug["id"], 2), (lamp["id"], 3)]  # in the order added
    first, short = cart["items"]
    assert (first["name"], first["price_cents"], first["line_total_cents"]) == (
        mug["name"],
        900,
        1800,
    )
    assert (first["problem"], short["problem"]) == (None, "short")
    assert (cart["units"], cart["total_cents"], cart["can_check_out"]) == (5, 1800, False)

    call(runner, "products", "update_product", mug["id"], {"price_cents": 1000})
    assert cart_of(runner, user)["items"][0]["line_total_cents"] == 2000  # today's price


def test_adding_again_adds_to_the_line_within_an_orders_bounds(runner):
    user, mug = user_id(), product(runner)
    call(runner, "orders", "add_to_cart", user, mug["id"], MAX_QUANTITY - 1)
    assert lines(call(runner, "orders", "add_to_cart", user, mug["id"]))[0][1] == MAX_QUANTITY
    with pytest.raises(InvalidInput) as refused:
        call(runner, "orders", "add_to_cart", user, mug["id"], 1)
    assert list(refused.value.fields) == ["quantity"]
    with pytest.raises(UnknownProduct) as unknown:
        call(runner, "orders", "add_to_cart", user, 2_000_000_000, 1)
    assert list(unknown.value.fields) == ["product_id"]
    with pytest.raises(UnknownProduct) as unknown:
        call(runner, "orders", "replace_cart", user, [{"product_id": 2_000_000_000, "quantity": 1}])
    assert list(unknown.value.fields) == ["items"]
    assert lines(cart_of(runner, user)) == [(mug["id"], MAX_QUANTITY)]  # left as it was
    for quantity in (0, MAX_QUANTITY + 1):
        with pytest.raises(InvalidInput):
            call(runner, "orders", "set_cart_quantity", user, mug["id"], quantity)
    assert lines(call(runner, "orders", "set_cart_quantity", user, mug["id"], 3)) == [
        (mug["id"], 3)
    ]
    with pytest.raises(CartItemNotFound):
        call(runner, "orders", "set_cart_quantity", user, mug["id"] + 10_000_000, 1)
    assert call(runner, "orders", "remove_from_cart", user, mug["id"])["items"] == []
    assert call(runner, "orders", "remove_from_cart", user, mug["id"])["items"] == []  # again


def test_a_full_cart_takes_no_new_product_even_from_two_tabs_at_once(runner, config):
    user = user_id()
    products = [product(runner) for _ in range(MAX_CART_LINES + 1)]
    items = [{"product_id": p["id"], "quantity": 1} for p in products[: MAX_CART_LINES - 1]]
    assert len(call(runner, "orders", "replace_cart", user, items)["items"]) == MAX_CART_LINES - 1
    answers = at_once(config, [("add_to_cart", user, p["id"], 1) for p in products[-2:]])
    full = [answer for answer in answers if isinstance(answer, CartFull)]
    assert len(full) == 1 and list(full[0].fields) == ["product_id"]
    assert len(cart_of(runner, user)["items"]) == MAX_CART_LINES


def test_two_tabs_adding_the_same_product_at_once_add_both(runner, config):
    user, mug = user_id(), product(runner)
    answers = at_once(config, [("add_to_cart", user, mug["id"], 2)] * 10)
    assert not [answer for answer in answers if isinstance(answer, Exception)]
    assert lines(cart_of(runner, user)) == [(mug["id"], 20)]


def test_checkout_places_the_order_and_empties_the_cart_once(runner):
    user = user_id()
    mug, lamp = product(runner, stock=5, price_cents=900), product(runner, stock=5, price_cents=50)
    call(runner, "orders", "add_to_cart", user, mug["id"], 2)
    call(runner, "orders", "add_to_cart", user, lamp["id"], 1)
    order = call(runner, "orders", "checkout_cart", user, "tok_visa", "checkout-1")
    assert order["status"] == "confirmed" and order["total_cents"] == 1850
    assert cart_of(runner, user)["items"] == []
    assert (stock_of(runner, mug["id"]), stock_of(runner, lamp["id"])) == (3, 4)
    # The same key again (a double click, a retry): the same order, nothing placed twice.
    call(runner, "orders", "add_to_cart", user, mug["id"], 1)
    again = call(runner, "orders", "checkout_cart", user, "tok_visa", "checkout-1")
    assert again["id"] == order["id"]
    assert lines(cart_of(runner, user)) == [(mug["id"], 1)]  # untouched by the replay
    assert stock_of(runner, mug["id"]) == 3
    call(runner, "orders", "clear_cart", user)
    with pytest.raises(CartEmpty):
        call(runner, "orders", "checkout_cart", user, "tok_visa", "checkout-2")


def test_a_double_checkout_with_one_key_places_one_order(runner, config):
    user, mug = user_id(), product(runner, stock=5)
    call(runner, "orders", "add_to_cart", user, mug["id"], 1)
    first, second = at_once(config, [("checkout_cart", user, "tok_visa", "k")] * 2)
    # The second may find the order still on its way (pending): the same order all the same.
    assert first["id"] == second["id"]
    assert call(runner, "orders", "get_order", first["id"], user)["status"] == "confirmed"
    assert stock_of(runner, mug["id"]) == 4


@pytest.mark.parametrize(
    ("token", "stock", "reason"),
    [("tok_decline", 5, "payment_declined"), ("tok_visa", 1, "out_of_stock")],
)
def test_a_refused_order_gives_its_lines_back_to_the_cart(runner, token, stock, reason):
    user, mug = user_id(), product(runner, stock=stock)
    call(runner, "orders", "add_to_cart", user, mug["id"], 2)
    order = call(runner, "orders", "checkout_cart", user, token, None)
    assert (order["status"], order["cancel_reason"]) == ("cancelled", reason)
    # Back in the cart, added to what was put there meanwhile (nothing here).
    assert lines(cart_of(runner, user)) == [(mug["id"], 2)]
    assert stock_of(runner, mug["id"]) == stock


def test_a_confirmed_order_cancelled_by_its_owner_stays_out_of_the_cart(runner):
    user, mug = user_id(), product(runner, stock=5)
    call(runner, "orders", "add_to_cart", user, mug["id"], 1)
    order = call(runner, "orders", "checkout_cart", user, "tok_visa", None)
    cancelled = call(runner, "orders", "cancel_order", order["id"], user)
    assert cancelled["status"] == "cancelled"
    assert cart_of(runner, user)["items"] == []


def test_a_checkout_naming_a_product_gone_from_the_catalogue_keeps_the_cart(runner, products_db):
    user, mug, lamp = user_id(), product(runner, stock=5), product(runner, stock=5)
    call(runner, "orders", "add_to_cart", user, mug["id"], 1)
    with products_db.begin() as conn:  # gone, as an operator could remove it
        conn.exec_driver_sql("DELETE FROM products WHERE id = %s", (mug["id"],))
    with pytest.raises(UnknownProduct):  # nothing else in it: no order at all
        call(runner, "orders", "checkout_cart", user, "tok_visa", None)
    assert lines(cart_of(runner, user)) == [(mug["id"], 1)]
    # Beside a product that exists: refused the same, naming the one gone, and nothing lost.
    call(runner, "orders", "add_to_cart", user, lamp["id"], 2)
    with pytest.raises(UnknownProduct) as unknown:
        call(runner, "orders", "checkout_cart", user, "tok_visa", None)
    assert str(mug["id"]) in str(unknown.value.fields["items"])
    assert lines(cart_of(runner, user)) == [(mug["id"], 1), (lamp["id"], 2)]
    assert stock_of(runner, lamp["id"]) == 5
