from orders import domain


def test_items_are_merged_per_product_in_product_order():
    items = [
        {"product_id": 9, "quantity": 1},
        {"product_id": 2, "quantity": 2},
        {"product_id": 9, "quantity": 3},
    ]
    assert domain.merge_items(items) == [
        {"product_id": 2, "quantity": 2},
        {"product_id": 9, "quantity": 4},
    ]


def test_total_is_quantity_times_unit_price():
    lines = [{"quantity": 3, "price_cents": 250}, {"quantity": 1, "price_cents": 1000}]
    assert domain.total_cents(lines) == 1750
    assert domain.total_cents([]) == 0


def test_the_fingerprint_tells_orders_apart_but_not_their_spelling():
    a = domain.merge_items([{"product_id": 1, "quantity": 1}, {"product_id": 1, "quantity": 1}])
    b = domain.merge_items([{"product_id": 1, "quantity": 2}])
    assert domain.fingerprint(a, "tok") == domain.fingerprint(b, "tok")
    assert domain.fingerprint(a, "tok") != domain.fingerprint(a, "tok_other")
    assert domain.fingerprint(a, "tok") != domain.fingerprint(
        [{"product_id": 1, "quantity": 3}], "tok"
    )


def test_retries_back_off_up_to_thirty_seconds():
    assert [domain.retry_delay(n) for n in (0, 1, 2, 3, 4, 5, 50)] == [1, 2, 4, 8, 16, 30, 30]


def test_every_refused_charge_has_a_cancel_reason():
    assert domain.CHARGE_REFUSALS == {
        "declined": domain.PAYMENT_DECLINED,
        "failed": domain.PAYMENT_FAILED,
        "voided": domain.EXPIRED,
    }
