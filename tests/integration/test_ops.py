"""Each service's ops port: liveness, readiness and Prometheus metrics, on real servers."""

import time
import uuid

import pytest
import requests
from nameko.rpc import Rpc
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from nameko.utils.concurrency import SpawningProxy
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.config import Settings
from orders.service import OrdersService
from payments.service import PaymentsService
from products.service import ProductsService
from tests.conftest import free_port


def start(container_factory, service_config, cls, **overrides):
    """Start ``cls`` with an ops port of its own; returns (container, base URL)."""
    port = free_port()
    config = {**service_config, "OPS_PORT": port, **overrides}
    container = container_factory(cls, config)
    container.start()
    return container, f"http://127.0.0.1:{port}"


def samples(base):
    """{(name, frozenset(labels)): value} of everything /metrics shows."""
    response = requests.get(f"{base}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def cluster(container_factory, service_config):
    """orders, products and payments, each on its own ops port."""
    return {
        cls.name: start(container_factory, service_config, cls)
        for cls in (OrdersService, ProductsService, PaymentsService)
    }


def test_every_service_is_live_and_ready_and_says_what_it_checked(cluster):
    for name, (_, base) in cluster.items():
        live = requests.get(f"{base}/health/live", timeout=5)
        assert live.status_code == 200
        assert live.json() == {"service": name, "status": "alive"}
        ready = requests.get(f"{base}/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert ready.json()["checks"]["rabbitmq"] == "ok"
        assert ready.json()["checks"]["postgresql"] == "ok"
    # products caches in Redis, and says so
    assert (
        requests.get(f"{cluster['products'][1]}/health/ready", timeout=5).json()["checks"]["redis"]
        == "ok"
    )
    assert requests.get(f"{cluster['orders'][1]}/nothing", timeout=5).status_code == 404


def test_metrics_count_calls_by_method_and_outcome_and_the_saga_by_result(cluster, service_config):
    products, orders_url = cluster["products"][0], cluster["orders"][1]
    with entrypoint_hook(products, "create_product") as create:
        product = create(
            {
                "sku": f"OPS-{uuid.uuid4().hex[:10]}",
                "name": "Metered",
                "price_cents": 10,
                "stock": 1,
            }
        )
    before = samples(orders_url)
    user_id = uuid.uuid4().int % 1_000_000 + 1
    projected = entrypoint_waiter(cluster["orders"][0], "project_order_confirmed", timeout=10)
    with projected, ServiceRpcProxy("orders", service_config) as rpc:
        first = rpc.create_order(
            user_id, [{"product_id": product["id"], "quantity": 1}], "tok_visa"
        )
        second = rpc.create_order(
            user_id, [{"product_id": product["id"], "quantity": 1}], "tok_visa"
        )
        with pytest.raises(Exception, match="No order"):
            rpc.get_order(str(uuid.uuid4()))
    assert (first["status"], second["status"]) == ("confirmed", "cancelled")
    # A worker is counted after its reply has gone out: give the last one a moment.
    deadline = time.monotonic() + 5
    while True:
        after = samples(orders_url)
        refused = {"service": "orders", "method": "get_order", "outcome": "refused"}
        counted = value(after, "shop_rpc_calls_total", **refused)
        if (
            counted > value(before, "shop_rpc_calls_total", **refused)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.05)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    calls = "shop_rpc_calls_total"
    assert delta(calls, service="orders", method="create_order", outcome="ok") == 2
    assert delta(calls, service="orders", method="get_order", outcome="refused") == 1
    latency = "shop_rpc_call_duration_seconds_count"
    assert delta(latency, service="orders", method="create_order") == 2
    handled = "shop_events_handled_total"
    assert delta(handled, service="orders", event_type="order_confirmed", outcome="ok") >= 1
    outcomes = "shop_saga_outcomes_total"
    assert delta(outcomes, status="confirmed", reason="none") >= 1
    assert delta(outcomes, status="cancelled", reason="out_of_stock") >= 1
    # The outbox reports its backlog when scraped: a number, and the age of the oldest.
    assert ("shop_outbox_backlog", frozenset({("service", "orders")})) in after
    age = value(after, "shop_outbox_oldest_unsent_age_seconds", service="orders")
    assert 0 <= age < 60
    # products counted the reservations it served
    stock = samples(cluster["products"][1])
    assert value(stock, calls, service="products", method="reserve_stock", outcome="ok") >= 1


@pytest.fixture
def payments_without_database(container_factory, service_config):
    unreachable = "postgresql+psycopg2://shop:shop@127.0.0.1:1/payments"
    return start(
        container_factory,
        service_config,
        PaymentsService,
        DB_URIS={"payments:Base": unreachable},
        READY_TIMEOUT=2,
    )


def test_a_service_that_cannot_reach_its_database_is_live_but_not_ready(
    payments_without_database,
):
    _, base = payments_without_database
    assert requests.get(f"{base}/health/live", timeout=5).status_code == 200
    ready = requests.get(f"{base}/health/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["postgresql"]
    assert ready.json()["checks"]["rabbitmq"] == "ok"


def test_the_gateway_is_not_ready_while_a_service_is_not(payments_without_database, service_config):
    _, base = payments_without_database
    settings = Settings(
        amqp_uri=service_config["AMQP_URI"],
        services=("payments",),
        ops_urls={"payments": base},
        ready_timeout=5,
        jwt_secret="ops-test-secret-that-is-long-enough-for-hs256",
    )
    client = create_app(settings).test_client()
    response = client.get("/health/ready", base_url=f"http://localhost:{settings.ops_port}")
    assert response.status_code == 503
    assert response.json["failed"] == ["payments"]
    # it answers pings through the broker, but says it cannot reach its database
    assert response.json["checks"]["payments"] == "not ready: postgresql"
    assert response.json["checks"]["rabbitmq"] == "ok"


def test_a_service_whose_rpc_queue_nobody_consumes_is_not_ready(container_factory, service_config):
    container, base = start(container_factory, service_config, PaymentsService)
    assert requests.get(f"{base}/health/ready", timeout=5).status_code == 200
    # What a consumer that keeps failing to (re)declare its queue amounts to: none at all.
    # (All at once, as the container stops them: each waits for the others.)
    SpawningProxy([e for e in container.entrypoints if isinstance(e, Rpc)]).stop()
    deadline = time.monotonic() + 5
    while (ready := requests.get(f"{base}/health/ready", timeout=5)).status_code == 200:
        assert time.monotonic() < deadline, "still ready with nothing consuming its queue"
        time.sleep(0.1)
    assert ready.status_code == 503
    assert ready.json()["checks"]["rabbitmq"] == "nothing consumes rpc-payments"
