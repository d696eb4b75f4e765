from products.domain import merge_items, shortage


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
