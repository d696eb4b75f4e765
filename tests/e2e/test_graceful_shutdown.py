"""SIGTERM to the gateway's gunicorn master while an order is being placed: the client gets its
whole answer, then gunicorn exits 0 (it waits up to GATEWAY_GRACEFUL_TIMEOUT for requests in
flight). A gateway of its own, beside the cluster's, so the cluster is left running."""

import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_for_charge_in_flight

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
GRACEFUL_TIMEOUT = 10


@pytest.fixture
def own_gateway(cluster_env, tmp_path):
    port = free_port()
    env = {
        **cluster_env,
        "GATEWAY_PORT": str(port),
        "GATEWAY_OPS_PORT": str(free_port()),
        # The cluster's own secret (made by `make run`): its tokens are good here too.
        "JWT_SECRET": (Path(cluster_env["RUN_DIR"]) / "secrets" / "jwt-secret").read_text(),
        "GATEWAY_WORKERS": "1",
        "GATEWAY_THREADS": "2",
        "GATEWAY_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # never the cluster gateway's counters
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [GUNICORN, "-c", "gateway/gunicorn.conf.py", "gateway.app:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening, or loading
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        proc.base = base
        proc.log = log
        yield proc
    finally:  # never left running, however the test or the start ended
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_lets_gunicorn_finish_the_order_in_flight_then_exit_0(
    own_gateway, cluster_env, admin, customer
):
    sku = f"E2E-{uuid.uuid4().hex[:10]}"
    product = admin.post(
        "/api/v1/products",
        json={"sku": sku, "name": f"Thing {sku}", "price_cents": 700, "stock": 3},
    )
    assert product.status_code == 201, product.text
    order = {"items": [{"product_id": product.json()["id"], "quantity": 2}]}

    def place():
        return requests.post(
            f"{own_gateway.base}/api/v1/orders",
            # the simulated provider takes PAYMENT_PROVIDER_SLOW_SECONDS (2 s) over it
            json={**order, "payment_token": "tok_slow_shutdown"},
            headers={**customer.session.headers, "Idempotency-Key": uuid.uuid4().hex},
            timeout=15,
        )

    with ThreadPoolExecutor(1) as pool:
        placing = pool.submit(place)
        wait_for_charge_in_flight(cluster_env["PAYMENTS_DATABASE_URL"])
        own_gateway.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        response = placing.result(timeout=15)
    code = own_gateway.wait(timeout=GRACEFUL_TIMEOUT + 5)
    took = time.monotonic() - sent

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "confirmed" and body["total_cents"] == 1400, body
    assert code == 0, own_gateway.log.read_text(errors="replace")
    assert took < GRACEFUL_TIMEOUT, f"gunicorn took {took:.1f} s to stop"
    with pytest.raises(requests.ConnectionError):  # it is gone, not merely refusing
        requests.get(f"{own_gateway.base}/health", timeout=1)
