"""Scaled out on one machine: the e2e cluster runs two orders and two products processes
(``SCALE=orders=2,products=2``) on the same queues. They share the work as competing
consumers, and nothing happens twice: each order is placed once, each event published once
(two outbox relays, two recovery timers), each notification sent once."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.test_orders import new_customer, new_product, settled, stock_of

ORDERS, STOCK = 40, 20


def log_lines(cluster_env, process: str, prefix: str) -> list[str]:
    """The messages ``process`` logged under a request id starting with ``prefix`` (all it
    logged, for an empty prefix)."""
    path = Path(cluster_env["RUN_DIR"]) / "logs" / f"{process}.log"
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if prefix not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if str(entry.get("request_id", "")).startswith(prefix):
            found.append(entry["message"])
    return found


def test_two_instances_share_the_work_and_nothing_happens_twice(api, admin, cluster_env):
    item = new_product(admin, stock=STOCK)
    customers = [new_customer(api) for _ in range(8)]
    prefix = f"scale-{uuid.uuid4().hex[:12]}"

    def place(i):
        customer = customers[i % len(customers)]
        response = customer.post(
            "/api/v1/orders",
            json={"items": [{"product_id": item["id"], "quantity": 1}], "payment_token": "tok_ok"},
            headers={"X-Request-ID": f"{prefix}-{i}", "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code in (201, 202), response.text
        return settled(customer, response.json()["id"])

    with ThreadPoolExecutor(max_workers=20) as pool:
        final = list(pool.map(place, range(ORDERS)))

    confirmed = [o for o in final if o["status"] == "confirmed"]
    assert len(confirmed) == STOCK
    assert all(o["cancel_reason"] == "out_of_stock" for o in final if o not in confirmed)
    assert stock_of(api, item["id"]) == 0

    # Shared: each process of the pair served part of the orders and of the reservations.
    for process, step in (
        ("orders", "orders.create_order done"),
        ("orders-2", "orders.create_order done"),
        ("products", "products.reserve_stock done"),
        ("products-2", "products.reserve_stock done"),
    ):
        served = [m for m in log_lines(cluster_env, process, prefix) if m.startswith(step)]
        assert served, f"{process} served none of the {ORDERS} orders"
    placed = sum(
        m.startswith("orders.create_order done")
        for process in ("orders", "orders-2")
        for m in log_lines(cluster_env, process, prefix)
    )
    assert placed == ORDERS  # each call served once, by one of the two

    # Once: every confirmed order's event reached notifications exactly once, although two
    # outbox relays and two recovery loops were running; and no consumer saw a duplicate.
    done = "notifications.handle_order_confirmed done"
    deadline = time.monotonic() + 30
    while True:
        handled = [m for m in log_lines(cluster_env, "notifications", prefix) if m.startswith(done)]
        if len(handled) >= STOCK or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(2)  # a second publication would have arrived by now
    handled = [m for m in log_lines(cluster_env, "notifications", prefix) if m.startswith(done)]
    assert len(handled) == STOCK
    for process in ("orders", "orders-2", "products", "products-2", "notifications"):
        duplicates = [
            m for m in log_lines(cluster_env, process, prefix) if "already processed" in m
        ]
        assert not duplicates, (process, duplicates)
