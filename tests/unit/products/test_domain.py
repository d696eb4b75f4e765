from products.domain import Shortage, merge_items, refusal, shortage
from products.exceptions import OutOfStock, ProductNotFound


def test_items_are_merged_per_product_and_sorted_by_id():
    items = [
        {"product_id": 9, "quantity": 1},
        {"product_id": 2, "quantity": 3},
        {"product_id": 9, "quantity": 4},
    ]
    assert merge_items(items) == [(2, 3), (9, 5)]


def test_shortage_names_the_product_and_what_is_left():
    assert shortage(4, 3, 1) == ("4", ["Only 1 in stock, 3 requested."])
    assert shortage(4, 3, None) == ("4", ["Unknown product."])


def test_an_order_short_only_of_unknown_products_names_them_as_not_found():
    error = refusal([Shortage(9, 1, None), Shortage(8, 2, None)])
    assert isinstance(error, ProductNotFound)
    assert error.fields == {"items": {"9": ["Unknown product."], "8": ["Unknown product."]}}


def test_an_order_short_of_stock_is_out_of_stock_and_names_every_short_line():
    error = refusal([Shortage(4, 3, 1), Shortage(9, 1, None)])
    assert isinstance(error, OutOfStock)
    assert error.fields == {
        "items": {"4": ["Only 1 in stock, 3 requested."], "9": ["Unknown product."]}
    }
    assert isinstance(refusal([Shortage(4, 3, 0)]), OutOfStock)  # none left is still a product
