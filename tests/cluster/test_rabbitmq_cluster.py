"""The shop on three RabbitMQ nodes: its queues are quorum queues replicated on every node, its
processes spread over the nodes, and under a load of orders it loses the node the orders
service is connected to, then the node the products service is connected to, and the account
afterwards shows nothing lost, nothing done twice, nothing stuck."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from pathlib import Path

import requests

from tests.cluster.conftest import API, AUTH, NODES, cluster
from tests.conftest import chaos
from tests.e2e.test_scale_out import log_lines

ORDERS = 1000


def vhost_of(cluster_env) -> str:
    return cluster_env["BROKER_USER_PREFIX"].removesuffix("-")


def test_three_nodes_run_as_one_cluster(nodes):
    assert "running nodes: " in cluster("status")
    overview = requests.get(f"{API}/nodes", auth=AUTH, timeout=10).json()
    assert sorted(n["name"] for n in overview if n["running"]) == sorted(NODES)


def test_every_queue_of_the_services_is_replicated_on_every_node(shop, cluster_env):
    queues = requests.get(f"{API}/queues/{vhost_of(cluster_env)}", auth=AUTH, timeout=10).json()
    # Reply queues aside (each client's own), every queue is a quorum queue on every node.
    durable = [q for q in queues if not q["name"].startswith("rpc.reply-")]
    assert {q["name"] for q in durable} >= {
        "rpc-orders",
        "rpc-products",
        "rpc-payments",
        "rpc-users",
        "rpc-notifications",
        "evt-orders-order_confirmed--notifications.handle_order_confirmed",
    }
    for queue in durable:
        assert queue["durable"], queue["name"]
        assert queue["type"] == "quorum", queue["name"]
        assert sorted(queue["members"]) == sorted(NODES), queue["name"]
    # Led from every node, not all from the node that declared them (queue_leader_locator).
    assert {q["leader"] for q in durable} == set(NODES)
    # The services' reply queues are transient: they go with their node, and are declared
    # anew on the node their service fails over to.
    replies = [q for q in queues if re.match(r"rpc\.reply-(orders|notifications)-", q["name"])]
    assert len(replies) == 3  # two of orders, one of notifications
    assert not any(q["durable"] for q in replies)


def connections_by_node(cluster_env) -> dict[str, set[str]]:
    """{broker user: the nodes its connections are on}."""
    found: dict[str, set[str]] = defaultdict(set)
    for connection in requests.get(f"{API}/connections", auth=AUTH, timeout=10).json():
        if connection["vhost"] == vhost_of(cluster_env):
            found[connection["user"].removeprefix(cluster_env["BROKER_USER_PREFIX"])].add(
                connection["node"]
            )
    return found


def test_the_instances_of_a_service_connect_to_different_nodes(shop, second_gateway, cluster_env):
    for gateway in (shop, second_gateway):  # a gateway connects on its first call
        assert requests.get(f"{gateway}/api/v1/products", timeout=10).status_code == 200
    deadline = time.monotonic() + 30  # the management API lists a connection within seconds
    while True:
        on = connections_by_node(cluster_env)
        if len(on["gateway"]) == 2 or time.monotonic() > deadline:
            break
        time.sleep(1)
    for principal in ("orders", "products", "gateway"):  # two instances of each
        assert len(on[principal]) == 2, (principal, on[principal])
    # Between them, the processes use every node.
    assert set().union(*on.values()) == set(NODES)


def test_orders_lose_nothing_while_nodes_stop_under_load(shop, second_gateway, cluster_env):
    """``make chaos`` with a cluster's faults: the orders service's node stops for a while and
    comes back, later the products service's node; orders go through both gateways."""
    run_dir = Path(cluster_env["RUN_DIR"])
    printed = chaos(
        cluster_env,
        *("--faults", "nodes", "--orders", str(ORDERS), "--base", shop, "--base", second_gateway),
    )
    # Both faults were made under load: orders went on being placed while each node was down.
    made = re.findall(r"fault: stop (\S+) \((\w+)' node\).*orders (\d+)-(\d+) placed", printed)
    assert [principal for _, principal, _, _ in made] == ["orders", "products"], printed
    assert made[0][0] != made[1][0]  # two different nodes
    for _, _, before, after in made:
        assert int(after) > int(before), printed
    # Both instances of each took their share: of the calls, of the reservations, of the HTTP
    # requests; and each order was created once (the chaos account counts the effects).
    shares = {
        process: sum(m.startswith(message) for m in log_lines(cluster_env, process, ""))
        for process, message in (
            ("orders", "orders.create_order done"),
            ("orders-2", "orders.create_order done"),
            ("products", "products.reserve_stock done"),
            ("products-2", "products.reserve_stock done"),
        )
    }
    assert all(count > 0 for count in shares.values()), shares
    for gateway in ("gateway", "gateway-2"):
        log = (run_dir / "logs" / f"{gateway}.log").read_text(errors="replace")
        assert "POST /api/v1/orders HTTP" in log, gateway
