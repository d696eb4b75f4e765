"""Placing orders through the gateway against the whole cluster, including while parts of it
die: nothing oversold, nothing charged twice, nothing left pending, nothing lost."""

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest
import requests

from tests.conftest import wait_for_charge_in_flight
from tests.e2e.conftest import Api, login

SETTLE_TIMEOUT = 90


def new_customer(api: Api) -> Api:
    email = f"c.{uuid.uuid4().hex[:10]}@example.com"
    created = api.post(
        "/api/v1/users", json={"email": email, "password": "pw-12345678", "name": "C"}
    )
    assert created.status_code == 201, created.text
    return login(api, email, "pw-12345678")


def new_product(admin: Api, stock: int, price_cents: int = 1234) -> dict:
    sku = f"E2E-{uuid.uuid4().hex[:10]}"
    body = {"sku": sku, "name": f"Thing {sku}", "price_cents": price_cents, "stock": stock}
    created = admin.post("/api/v1/products", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def stock_of(api: Api, product_id: int) -> int:
    return api.get(f"/api/v1/products/{product_id}").json()["stock"]


def place(customer: Api, items: list, token: str = "tok_visa", **options) -> dict:
    return send_order(customer, items, token, **options).json()


def send_order(
    customer: Api,
    items: list,
    token: str = "tok_visa",
    key: str | None = None,
    deadline: float = 60,
    headers: dict | None = None,
) -> requests.Response:
    """Place an order as a careful client would: a 5xx or a lost connection is retried with
    the same idempotency key until the gateway gives an answer (a breaker that opened while a
    service was away answers 503 for a while after it is back: that is what Retry-After says)."""
    key = key or uuid.uuid4().hex
    ends = time.monotonic() + deadline
    while True:
        try:
            response = customer.post(
                "/api/v1/orders",
                json={"items": items, "payment_token": token},
                headers={"Idempotency-Key": key, **(headers or {})},
                timeout=15,
            )
        except requests.ConnectionError:
            response = None
        if response is not None and response.status_code < 500:
            assert response.status_code in (201, 202), response.text
            return response
        if response is not None:  # refused while a service was away: a JSON answer, in time
            assert response.headers["Content-Type"].startswith("application/json"), response.text
        assert time.monotonic() < ends, "the order was never accepted"
        time.sleep(0.5)


def settled(customer: Api, order_id: str, timeout: float = SETTLE_TIMEOUT) -> dict:
    ends = time.monotonic() + timeout
    while True:
        response = customer.get(f"/api/v1/orders/{order_id}")
        if response.status_code == 200 and response.json()["status"] != "pending":
            return response.json()
        assert time.monotonic() < ends, f"order {order_id} still pending: {response.text}"
        time.sleep(0.25)


def approved_charges(cluster_env, order_ids) -> int:
    (count,) = query(
        cluster_env,
        "payments",
        "SELECT count(*) FROM payments WHERE status = 'approved' AND order_id = ANY(%s)",
        list(order_ids),
    )[0]
    return count


def test_two_hundred_concurrent_orders_for_ten_in_stock(api, admin):
    item = new_product(admin, stock=10)
    customers = [new_customer(api) for _ in range(20)]
    items = [{"product_id": item["id"], "quantity": 1}]
    with ThreadPoolExecutor(max_workers=40) as pool:
        placed = list(
            pool.map(lambda i: (customers[i % 20], place(customers[i % 20], items)), range(200))
        )
    final = [settled(customer, order["id"]) for customer, order in placed]
    outcomes = [(order["status"], order["cancel_reason"]) for order in final]
    assert outcomes.count(("confirmed", None)) == 10
    assert outcomes.count(("cancelled", "out_of_stock")) == 190
    assert stock_of(api, item["id"]) == 0


def test_one_idempotency_key_sent_twenty_times_at_once(api, admin, cluster_env):
    item = new_product(admin, stock=50)
    customer = new_customer(api)
    key = uuid.uuid4().hex
    body = {"items": [{"product_id": item["id"], "quantity": 2}], "payment_token": "tok_visa"}

    def send(_):
        response = customer.post("/api/v1/orders", json=body, headers={"Idempotency-Key": key})
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, range(20)))
    assert len({str(answer) for answer in answers}) == 1, answers
    status, order = answers[0]
    assert status == 201 and order["status"] == "confirmed"
    listed = customer.get("/api/v1/orders").json()
    assert listed["total"] == 1
    assert stock_of(api, item["id"]) == 48
    assert approved_charges(cluster_env, [order["id"]]) == 1
    other = customer.post(
        "/api/v1/orders",
        json={**body, "items": [{"product_id": item["id"], "quantity": 3}]},
        headers={"Idempotency-Key": key},
    )
    assert other.status_code == 422, other.text


def test_a_declined_payment_gives_everything_back(api, admin, cluster_env):
    item = new_product(admin, stock=5)
    customer = new_customer(api)
    order = place(customer, [{"product_id": item["id"], "quantity": 3}], token="tok_decline")
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "payment_declined")
    assert stock_of(api, item["id"]) == 5
    assert approved_charges(cluster_env, [order["id"]]) == 0


def test_bad_orders_are_refused_and_leave_nothing_behind(api, admin, customer):
    item = new_product(admin, stock=5)

    def order(items, token="tok_visa"):
        return customer.post("/api/v1/orders", json={"items": items, "payment_token": token})

    unknown = order(
        [{"product_id": item["id"], "quantity": 1}, {"product_id": 2_000_000_000, "quantity": 1}]
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["fields"] == {"items": {"2000000000": ["Unknown product."]}}
    assert order([]).status_code == 400
    assert order([{"product_id": item["id"], "quantity": 0}]).status_code == 400
    assert order([{"product_id": item["id"], "quantity": 1}], token=" ").status_code == 400
    assert customer.get("/api/v1/orders").json()["total"] == 0
    assert stock_of(api, item["id"]) == 5


def test_a_customer_places_reads_and_cancels_an_order(api, admin, customer):
    item = new_product(admin, stock=5, price_cents=500)
    order = place(customer, [{"product_id": item["id"], "quantity": 2}])
    assert order["status"] == "confirmed" and order["total_cents"] == 1000
    read = customer.get(f"/api/v1/orders/{order['id']}").json()
    assert read["items"] == [
        {"product_id": item["id"], "quantity": 2, "price_cents": 500, "name": item["name"]}
    ]
    stranger = new_customer(api)
    assert stranger.get(f"/api/v1/orders/{order['id']}").status_code == 404
    assert stranger.post(f"/api/v1/orders/{order['id']}/cancel").status_code == 404
    cancelled = customer.post(f"/api/v1/orders/{order['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancel_reason"] == "user_cancelled"
    assert stock_of(api, item["id"]) == 5
    declined = place(customer, [{"product_id": item["id"], "quantity": 1}], token="tok_decline")
    assert customer.post(f"/api/v1/orders/{declined['id']}/cancel").status_code == 409


def pid_of(cluster_env, name: str) -> int:
    return int((Path(cluster_env["RUN_DIR"]) / "pids" / f"{name}.pid").read_text())


def wait_for_restart(cluster_env, name: str, old_pid: int, api: Api) -> None:
    ends = time.monotonic() + 60
    ops = Api(f"http://127.0.0.1:{cluster_env['GATEWAY_OPS_PORT']}")
    while pid_of(cluster_env, name) == old_pid or ops.get("/health/ready").status_code != 200:
        assert time.monotonic() < ends, f"{name} was not restarted"
        time.sleep(0.25)


def test_killing_the_orders_service_mid_saga_loses_nothing(api, admin, cluster_env):
    item = new_product(admin, stock=30)
    customers = [new_customer(api) for _ in range(5)]
    items = [{"product_id": item["id"], "quantity": 1}]
    tokens = ["tok_visa", "tok_visa", "tok_decline"]

    def one(i):
        customer = customers[i % 5]
        return customer, place(customer, items, token=tokens[i % 3])

    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(one, i) for i in range(60)]
        time.sleep(0.5)
        victim = pid_of(cluster_env, "orders")
        os.kill(victim, signal.SIGKILL)
        placed = [future.result() for future in futures]
    wait_for_restart(cluster_env, "orders", victim, api)
    final = [settled(customer, order["id"]) for customer, order in placed]
    assert len({order["id"] for order in final}) == 60  # one order per request, none lost
    confirmed = [order for order in final if order["status"] == "confirmed"]
    assert all(order["status"] in ("confirmed", "cancelled") for order in final)
    units = sum(line["quantity"] for order in confirmed for line in order["items"])
    assert stock_of(api, item["id"]) + units == 30
    assert approved_charges(cluster_env, [order["id"] for order in final]) == len(confirmed)


def test_an_order_sent_without_a_key_is_placed_once_when_orders_dies_mid_call(
    api, admin, cluster_env
):
    # nameko acknowledges a request only once it has answered: orders killed mid-call gets the
    # same request again when it restarts. The key the gateway gave it finds the first order.
    item = new_product(admin, stock=5)
    customer = new_customer(api)
    body = {"items": [{"product_id": item["id"], "quantity": 1}], "payment_token": "tok_slow"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(customer.post, "/api/v1/orders", json=body, timeout=30)
        wait_for_charge_in_flight(cluster_env["PAYMENTS_DATABASE_URL"])
        victims = {name: pid_of(cluster_env, name) for name in ("orders", "orders-2")}
        for pid in victims.values():
            os.kill(pid, signal.SIGKILL)
        response = answer.result()
    # An answer (the order, as the redelivered request found it) or a timeout: either way, the
    # client learns nothing wrong.
    assert response.status_code in (201, 202, 504), response.text
    for name, pid in victims.items():
        wait_for_restart(cluster_env, name, pid, api)
    ends = time.monotonic() + SETTLE_TIMEOUT
    while True:
        page = customer.get("/api/v1/orders").json()
        if page["total"] and all(o["status"] != "pending" for o in page["items"]):
            break
        assert time.monotonic() < ends, page
        time.sleep(0.5)
    (order,) = page["items"]  # one order for the one request
    assert order["status"] == "confirmed"
    user_id = customer.get("/api/v1/users/me").json()["id"]
    (charges,) = query(
        cluster_env,
        "payments",
        "SELECT count(*) FROM payments WHERE user_id = %s AND status = 'approved'",
        user_id,
    )[0]
    assert charges == 1
    assert stock_of(api, item["id"]) == 4


def rabbitmqctl(*args: str) -> None:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        pytest.fail("rabbitmqctl is not on PATH: install rabbitmq-server (`make stack`)")
    subprocess.run([tool, *args], check=True, capture_output=True, timeout=120)


def notifications_of(customer: Api) -> list:
    return customer.get("/api/v1/notifications", params={"limit": 100}).json()["items"]


def test_a_broker_outage_loses_no_order_and_no_notification(api, admin):
    item = new_product(admin, stock=100)
    customers = [new_customer(api) for _ in range(4)]
    items = [{"product_id": item["id"], "quantity": 1}]

    def one(i):
        customer = customers[i % 4]
        return customer, place(customer, items, deadline=90)

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(one, i) for i in range(8)]
        time.sleep(1.0)
        rabbitmqctl("stop_app")
        try:
            futures += [pool.submit(one, i) for i in range(8, 16)]
            time.sleep(10)
        finally:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup")
        placed = [future.result() for future in futures]
    final = [settled(customer, order["id"]) for customer, order in placed]
    assert [order["status"] for order in final] == ["confirmed"] * 16
    assert stock_of(api, item["id"]) == 100 - 16
    ends = time.monotonic() + SETTLE_TIMEOUT
    for customer in customers:
        mine = {order["id"] for c, order in placed if c is customer}
        while True:
            confirmed_mail = [
                n for n in notifications_of(customer) if n["kind"] == "order_confirmed"
            ]
            if len(confirmed_mail) >= len(mine):
                break
            assert time.monotonic() < ends, f"notifications missing: {confirmed_mail}"
            time.sleep(0.5)
        assert len(confirmed_mail) == len(mine)


def query(cluster_env, database: str, sql: str, *params):
    url = cluster_env[f"{database.upper()}_DATABASE_URL"].replace("+psycopg2", "")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def queues_drained(cluster_env) -> bool:
    vhost = cluster_env["AMQP_URI"].rsplit("/", 1)[1]
    queues = requests.get(
        f"http://127.0.0.1:15672/api/queues/{vhost}", auth=("guest", "guest"), timeout=10
    ).json()
    events = [q for q in queues if q["name"].startswith("evt-") and not q["name"].endswith(".dead")]
    return bool(events) and all(q.get("messages", 0) == 0 for q in events)


def effects(cluster_env) -> dict:
    """Everything an event handler can change, summed up."""
    return {
        "notifications": query(cluster_env, "notifications", "SELECT count(*) FROM notifications"),
        "sales": query(
            cluster_env, "orders", "SELECT sum(units), sum(revenue_cents) FROM sales_daily"
        ),
        "counted": query(
            cluster_env,
            "orders",
            "SELECT count(*), count(*) FILTER (WHERE counted) FROM sales_applied",
        ),
    }


def test_a_duplicate_delivery_of_each_event_has_no_second_effect(api, admin, cluster_env):
    from nameko.standalone.events import event_dispatcher

    from chassis.contracts.events import SCHEMAS, SOURCES

    item = new_product(admin, stock=10)
    customer = new_customer(api)
    kept = place(customer, [{"product_id": item["id"], "quantity": 1}])
    cancelled = place(customer, [{"product_id": item["id"], "quantity": 2}])
    assert customer.post(f"/api/v1/orders/{cancelled['id']}/cancel").status_code == 200
    place(customer, [{"product_id": item["id"], "quantity": 1}], token="tok_decline")
    place(customer, [{"product_id": item["id"], "quantity": 1}], token="tok_fail")
    user_id = kept["user_id"]
    events = {}
    for service in ("users", "orders", "payments"):
        for event_type, payload in query(
            cluster_env,
            service,
            "SELECT DISTINCT ON (event_type) event_type, payload FROM outbox"
            " WHERE (payload->>'user_id')::int = %s ORDER BY event_type, id",
            user_id,
        ):
            events[event_type] = payload
    assert set(events) == set(SCHEMAS)  # one real event of every type, all from this test
    ends = time.monotonic() + 30
    while not queues_drained(cluster_env):
        assert time.monotonic() < ends, "the first deliveries were never handled"
        time.sleep(0.2)
    time.sleep(0.5)
    before = effects(cluster_env)
    dispatch = event_dispatcher({"AMQP_URI": cluster_env["AMQP_URI"]})
    for event_type, payload in events.items():
        dispatch(SOURCES[event_type], event_type, payload)
    time.sleep(0.5)
    ends = time.monotonic() + 30
    while not queues_drained(cluster_env):
        assert time.monotonic() < ends, "the duplicates were never handled"
        time.sleep(0.2)
    assert effects(cluster_env) == before


def test_one_request_id_tells_the_whole_story_across_the_logs(api, admin, cluster_env):
    item = new_product(admin, stock=5)
    customer = new_customer(api)
    request_id = f"e2e-{uuid.uuid4().hex}"
    response = send_order(
        customer,
        [{"product_id": item["id"], "quantity": 1}],
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == request_id
    logs = Path(cluster_env["RUN_DIR"]) / "logs"
    wanted = {"gateway", "orders", "products", "payments", "notifications"}
    ends = time.monotonic() + 20
    while True:
        found = set()
        for path in logs.glob("*.log"):  # orders-2.log too: any instance may have done a part
            for line in path.read_text(errors="replace").splitlines():
                if request_id in line and line.startswith("{"):
                    entry = json.loads(line)
                    if entry.get("request_id") == request_id:  # a field, what one grep finds
                        found.add(entry["service"])
        if found == wanted or time.monotonic() > ends:
            break
        time.sleep(0.5)
    assert found == wanted
