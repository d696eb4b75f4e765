"""The shop on a RabbitMQ cluster of three nodes (``deploy/local/rabbitmq-cluster.sh``) on this
machine, beside its own broker: quorum queues, two instances of orders, products and the
gateway, each process connected first to a node of its own and able to fail over to the others.

Run by ``make test-cluster`` (as root: the nodes run as the rabbitmq user), not by ``make test``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis

from chassis import broker
from chassis.nodes import starting_at
from tests.conftest import ROOT, broker_vhost, free_port, require_servers, running_shop

CLUSTER = ROOT / "deploy" / "local" / "rabbitmq-cluster.sh"
API = "http://127.0.0.1:15681/api"  # the first node's management API
AUTH = ("guest", "guest")
NODES = ("rabbit1@localhost", "rabbit2@localhost", "rabbit3@localhost")
INSTANCES = ("users", "products", "orders", "payments", "notifications", "products_2", "orders_2")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


def cluster(*args: str) -> str:
    done = subprocess.run(
        [str(CLUSTER), *args], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode:
        pytest.fail(f"rabbitmq-cluster.sh {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


@pytest.fixture(scope="session")
def nodes():
    """Three RabbitMQ nodes joined into one cluster; stopped and removed at the end."""
    if os.geteuid() != 0:
        pytest.fail(
            "the cluster's nodes run as the rabbitmq user: run `make test-cluster` as root",
            pytrace=False,
        )
    require_servers("postgres", "redis")
    cluster("up")
    yield NODES
    cluster("down")


@pytest.fixture(scope="session")
def vhost(nodes):
    with broker_vhost(API, f"shop_cluster_{uuid.uuid4().hex[:8]}") as name:
        yield name


@pytest.fixture(scope="session")
def cluster_env(vhost, tmp_path_factory):
    db = "postgresql+psycopg2://shop:shop@127.0.0.1:5432/{}_cluster"
    redis_url = "redis://127.0.0.1:6379/3"
    redis.Redis.from_url(redis_url).flushdb()
    return {
        **os.environ,
        # Every node, for failover; `make run` gives each process its own first node.
        "AMQP_URI": cluster("uri", vhost),
        "RABBITMQ_API_URL": API.removesuffix("/api"),
        "QUEUE_TYPE": "quorum",
        "SCALE": "orders=2,products=2",
        **{f"{name.upper()}_DATABASE_URL": db.format(name) for name in INSTANCES[:5]},
        "REDIS_URL": redis_url,
        "SMTP_PORT": str(free_port()),
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_OPS_PORT": str(free_port()),
        **{f"{name.upper()}_OPS_PORT": str(free_port()) for name in INSTANCES},
        "BROKER_USER_PREFIX": f"{vhost}-",
        "RUN_DIR": str(tmp_path_factory.mktemp("run")),
        "RATE_LIMIT_SIGNUPS_PER_IP": "10000 per hour",
    }


@pytest.fixture(scope="session")
def shop(cluster_env):
    with running_shop(cluster_env) as base:
        yield base


@pytest.fixture(scope="session")
def second_gateway(shop, cluster_env):
    """Another gateway beside the one `make run` started, as a second replica would run: the
    same broker user and JWT secret, its own ports, its first node the one after the first
    gateway's. Yields its base URL; its log is ``<RUN_DIR>/logs/gateway-2.log``."""
    run_dir = Path(cluster_env["RUN_DIR"])
    user = broker.username(broker.GATEWAY, cluster_env["BROKER_USER_PREFIX"])
    password = (run_dir / "secrets" / f"amqp-{broker.GATEWAY}").read_text().strip()
    uri = broker.user_uri(cluster_env["AMQP_URI"], user, password)
    port, ops_port = free_port(), free_port()
    env = {
        **cluster_env,
        "AMQP_URI": starting_at(uri, len(INSTANCES) + 1),  # `make run`'s gateway: + 0
        "JWT_SECRET": (run_dir / "secrets" / "jwt-secret").read_text().strip(),
        "GATEWAY_PORT": str(port),
        "GATEWAY_OPS_PORT": str(ops_port),
        "PROMETHEUS_MULTIPROC_DIR": str(run_dir / "prometheus-2"),
        # Its readiness asks each service's (first instance's) ops port, as the first one's does.
        "SERVICE_OPS_URLS": ",".join(
            f"{name}=http://127.0.0.1:{cluster_env[f'{name.upper()}_OPS_PORT']}"
            for name in INSTANCES[:5]
        ),
        "PYTHONUNBUFFERED": "1",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with (run_dir / "logs" / "gateway-2.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(gunicorn), "-c", "gateway/gunicorn.conf.py", "gateway.app:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/health/ready", timeout=3):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the second gateway did not become ready")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
