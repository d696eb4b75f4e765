"""Every image of the shop, built and run as a container: unprivileged on a read-only root,
healthy by its own HEALTHCHECK, serving an order from the gateway to the mail, and ending with
status 0 within its bound when ``docker stop`` sends SIGTERM. Files run in name order; the stop
test comes last."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.images.conftest import ADMIN, LONG_RUNNING, docker, inspect, wait_healthy

UID = "10001"
STOP_BOUND = 30.0  # seconds: SHUTDOWN_TIMEOUT / GATEWAY_GRACEFUL_TIMEOUT (20 s) and some
# The largest image is a service's: Python, the virtualenv (nameko, SQLAlchemy, psycopg2,
# OpenTelemetry...) and its own code.
MAX_SIZE_MB = 300


@pytest.mark.parametrize("target", LONG_RUNNING)
def test_each_turns_healthy_by_its_own_healthcheck(shop, target):
    container = shop.containers[target]
    assert inspect(container)["Config"]["Healthcheck"]["Test"][0] == "CMD"
    wait_healthy(container)


@pytest.mark.parametrize("target", LONG_RUNNING)
def test_each_runs_as_an_unprivileged_user_on_a_read_only_root(shop, target):
    container = shop.containers[target]
    details = inspect(container)
    assert details["Config"]["User"] == f"{UID}:{UID}"
    assert details["HostConfig"]["ReadonlyRootfs"] is True
    # What the process itself is, seen from inside: PID 1's real and effective uid.
    status = docker("exec", container, "cat", "/proc/1/status")
    (uids,) = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")]
    assert uids[:2] == [UID, UID]
    # Nothing on the root filesystem can be written, not even by the image's own user...
    touched = docker("exec", container, "sh", "-c", "touch /app/x 2>&1; echo $?", check=False)
    assert "Read-only file system" in touched and touched.endswith("1")
    # ...but its temporary directory can.
    assert docker("exec", container, "sh", "-c", "touch /tmp/x && echo ok") == "ok"


def test_an_order_through_the_containerised_gateway_is_confirmed_and_mailed(shop):
    for target in LONG_RUNNING:
        wait_healthy(shop.containers[target])
    api = requests.Session()
    admin = api.post(f"{shop.gateway}/api/v1/auth/token", json=ADMIN, timeout=10)
    assert admin.status_code == 200, admin.text
    as_admin = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    product = api.post(
        f"{shop.gateway}/api/v1/products",
        json={"sku": f"IMG-{uuid.uuid4().hex[:6]}", "name": "Box", "price_cents": 700, "stock": 5},
        headers=as_admin,
        timeout=10,
    )
    assert product.status_code == 201, product.text
    email = f"c.{uuid.uuid4().hex[:8]}@example.com"
    signed_up = api.post(
        f"{shop.gateway}/api/v1/users",
        json={"email": email, "password": "customer-pw", "name": "Con Tainer"},
        timeout=10,
    )
    assert signed_up.status_code == 201, signed_up.text
    token = api.post(
        f"{shop.gateway}/api/v1/auth/token",
        json={"email": email, "password": "customer-pw"},
        timeout=10,
    ).json()["access_token"]
    as_customer = {"Authorization": f"Bearer {token}"}
    placed = api.post(
        f"{shop.gateway}/api/v1/orders",
        json={
            "items": [{"product_id": product.json()["id"], "quantity": 2}],
            "payment_token": "tok_visa",
        },
        headers=as_customer,
        timeout=15,
    )
    assert placed.status_code in (201, 202), placed.text
    order_id = placed.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        order = api.get(f"{shop.gateway}/api/v1/orders/{order_id}", headers=as_customer, timeout=10)
        if order.json()["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert order.json()["status"] == "confirmed", order.text
    while True:  # the sink, in its container, wrote the mail into the mounted directory
        mails = [p.read_text() for p in (shop.mail / "new").glob("*")]
        if any(f"Your order {order_id} is confirmed" in m for m in mails):
            break
        assert time.monotonic() < deadline, f"no confirmation mail among {len(mails)}"
        time.sleep(0.3)
    assert any(f"To: {email}" in m and order_id in m for m in mails)


def test_each_image_is_small(images):
    sizes = {
        target: int(docker("image", "inspect", "--format", "{{.Size}}", image)) / 1e6
        for target, image in images.items()
    }
    print("image sizes (MB):", {t: round(s) for t, s in sizes.items()})
    assert max(sizes.values()) < MAX_SIZE_MB, sizes


def test_docker_stop_ends_each_with_status_0_within_its_bound(shop):
    # The gateway first, so no new work reaches the services; the mail sink last.
    took: dict[str, float] = {}
    for target in ("gateway", *reversed(LONG_RUNNING[1:-1]), "smtp-sink"):
        container = shop.containers[target]
        assert inspect(container)["State"]["Running"], target
        started = time.monotonic()
        docker("stop", "--time", str(int(STOP_BOUND)), container, timeout=STOP_BOUND + 30)
        took[target] = round(time.monotonic() - started, 1)
        state = inspect(container)["State"]
        assert (state["ExitCode"], state["OOMKilled"]) == (0, False), (target, state)
        assert took[target] < STOP_BOUND, (target, took)  # by itself, not killed at the bound
    print("seconds from docker stop to exit 0:", took)
