"""The shop's images, built (``deploy/docker/images.sh build``) and run as containers against
this machine's RabbitMQ, PostgreSQL and Redis, with host networking: a vhost, databases and a
Redis database of their own, so that a `make run` on this machine is left alone.

Run by ``make test-images`` (as root: it may install and start Docker's engine), not by
``make test``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from chassis import broker
from tests.conftest import ROOT, broker_vhost, free_port, require_servers

IMAGES = ROOT / "deploy" / "docker" / "images.sh"
TAG = os.environ.get("TAG", "dev")
SERVICES = ("users", "products", "orders", "payments", "notifications")
LONG_RUNNING = ("smtp-sink", *SERVICES, "gateway")
API = "http://127.0.0.1:15672/api"
ADMIN = {"email": "admin@example.com", "password": "images-admin-password"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "/images/" in str(item.fspath):
            item.add_marker(pytest.mark.images)


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        pytest.fail(f"docker {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip()


def inspect(container: str) -> dict:
    return json.loads(docker("inspect", container))[0]


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """{target: image}: every target built (what is built already comes from the cache)."""
    if os.geteuid() != 0:
        pytest.fail("make test-images installs and starts Docker's engine: run it as root")
    require_servers("rabbitmq", "rabbitmq_api", "postgres", "redis")
    built = subprocess.run([str(IMAGES), "build"], capture_output=True, text=True, timeout=3600)
    if built.returncode:
        pytest.fail(f"deploy/docker/images.sh build failed:\n{built.stderr}")
    return {target: f"shop/{target}:{TAG}" for target in (*LONG_RUNNING, "migrate")}


def contained(env: dict[str, str]) -> list[str]:
    """``docker run`` options every container of the shop gets here: the host's network (its
    servers are on 127.0.0.1), a read-only root with /tmp in memory, and ``env``."""
    options = ["--network", "host", "--read-only", "--tmpfs", "/tmp"]
    for key, value in env.items():
        options += ["--env", f"{key}={value}"]
    return options


@dataclass
class Shop:
    """The containers of one shop, and what a test needs to reach them."""

    name: str  # the containers' prefix
    ports: dict[str, int]  # each container's health and metrics port
    mail: Path  # the mail sink's Maildir, mounted into it
    containers: dict[str, str] = field(default_factory=dict)  # target → container name
    gateway: str = ""  # the gateway's base URL

    def run(self, target: str, image: str, env: dict[str, str], *args: str) -> str:
        """Start ``image`` as the container of ``target``, as an operator would run it."""
        container = f"{self.name}-{target}"
        options = ["--detach", "--name", container, "--stop-timeout", "30", *contained(env)]
        docker("run", *options, *args, image)
        self.containers[target] = container
        return container


@pytest.fixture(scope="session")
def shop(images, tmp_path_factory) -> Iterator[Shop]:
    """Migrate (the one-shot image), then the mail sink, the five services and the gateway,
    each in a container; removed at the end, with the vhost and the broker users."""
    name = f"shop-images-{uuid.uuid4().hex[:6]}"
    with broker_vhost(API, name.replace("-", "_")) as vhost:
        yield from _shop(images, tmp_path_factory, name, vhost)


def _shop(images, tmp_path_factory, name: str, vhost: str) -> Iterator[Shop]:
    redis_url = "redis://127.0.0.1:6379/4"
    redis.Redis.from_url(redis_url).flushdb()
    mail = tmp_path_factory.mktemp("mail")
    os.chown(mail, 10001, 10001)  # the sink's uid, on a read-only root: its one writable place
    passwords = {principal: secrets.token_urlsafe(24) for principal in broker.PRINCIPALS}
    prefix = f"{vhost}-"
    operator = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    databases = {
        f"{service.upper()}_DATABASE_URL": (
            f"postgresql+psycopg2://shop:shop@127.0.0.1:5432/{service}_images"
        )
        for service in SERVICES
    }
    ports = {target: free_port() for target in (*LONG_RUNNING, "gateway-api")}
    shop = Shop(name, ports, mail)

    def user(principal: str) -> str:
        return broker.user_uri(operator, broker.username(principal, prefix), passwords[principal])

    try:
        migrate = {
            **databases,
            "AMQP_URI": operator,
            "BROKER_USER_PREFIX": prefix,
            **{f"{p.upper()}_AMQP_PASSWORD": pw for p, pw in passwords.items()},
        }
        docker("run", "--rm", *contained(migrate), images["migrate"], timeout=300)
        shop.run(
            "smtp-sink",
            images["smtp-sink"],
            {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(ports["smtp-sink"])},
            "--volume",
            f"{mail}:/var/mail/shop",
        )
        for service in SERVICES:
            env = {
                "AMQP_URI": user(service),
                f"{service.upper()}_DATABASE_URL": databases[f"{service.upper()}_DATABASE_URL"],
                "OPS_HOST": "127.0.0.1",
                "OPS_PORT": str(ports[service]),
                "REDIS_URL": redis_url,
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(ports["smtp-sink"]),
            }
            shop.run(service, images[service], env)
        shop.run(
            "gateway",
            images["gateway"],
            {
                "AMQP_URI": user(broker.GATEWAY),
                "REDIS_URL": redis_url,
                "JWT_SECRET": secrets.token_urlsafe(48),
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(ports["gateway-api"]),
                "GATEWAY_OPS_HOST": "127.0.0.1",
                "GATEWAY_OPS_PORT": str(ports["gateway"]),
                "GATEWAY_WORKERS": "2",
                "SERVICE_OPS_URLS": ",".join(f"{s}=http://127.0.0.1:{ports[s]}" for s in SERVICES),
                "RATE_LIMIT_SIGNUPS_PER_IP": "1000 per hour",
            },
        )
        shop.gateway = f"http://127.0.0.1:{ports['gateway-api']}"
        seed_admin(operator)
        yield shop
    finally:
        for container in reversed(list(shop.containers.values())):
            docker("rm", "--force", container, check=False)


def seed_admin(operator: str) -> None:
    """The shop's first admin, as `make run` seeds one: through the users service's RPC."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from chassis.contracts.errors import UserAlreadyExists

    deadline = time.monotonic() + 90
    while True:
        try:
            with (
                ClusterRpcProxy({"AMQP_URI": operator}, timeout=5) as rpc,
                contextlib.suppress(UserAlreadyExists),
            ):
                rpc.users.register_admin(ADMIN["email"], ADMIN["password"], "Admin")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def wait_healthy(container: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = inspect(container)["State"]
        health = state.get("Health", {}).get("Status")
        if health == "healthy":
            return
        if not state["Running"] or time.monotonic() > deadline:
            logs = docker("logs", "--tail", "30", container, check=False)
            pytest.fail(f"{container}: {health}, running={state['Running']}\n{logs}")
        time.sleep(1)
