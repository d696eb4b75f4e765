import re


def test_a_usable_request_id_is_echoed(client, ready_rpc):
    response = client.get("/health", headers={"X-Request-ID": "client-chosen-1"})
    assert response.headers["X-Request-ID"] == "client-chosen-1"


def test_a_missing_or_unusable_one_is_replaced(client):
    for headers in ({}, {"X-Request-ID": "two words"}, {"X-Request-ID": "x" * 200}):
        made = client.get("/health", headers=headers).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)


def test_every_rpc_call_of_a_request_runs_under_its_id(client, rpc):
    from chassis.logs import current_request_id

    rpc.on(
        "products",
        "get_product",
        lambda product_id: {"id": product_id, "seen": current_request_id()},
    )
    response = client.get("/api/v1/products/7", headers={"X-Request-ID": "req-7"})
    assert response.json["seen"] == "req-7"
    assert response.headers["X-Request-ID"] == "req-7"
