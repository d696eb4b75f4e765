"""`make chaos`, reduced: 200 orders while services are killed and the servers restarted.

It runs last among the end-to-end tests (files run in name order): it restarts RabbitMQ,
PostgreSQL and Redis under the cluster, which must then still be whole for the account.
"""

import subprocess
import sys

from tests.conftest import ROOT


def test_two_hundred_orders_through_kills_and_restarts_lose_nothing(cluster, cluster_env):
    chaos = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            "--orders",
            "200",
            "--base",
            cluster,
            "--run-dir",
            cluster_env["RUN_DIR"],
        ],
        cwd=ROOT,
        env=cluster_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(chaos.stdout)
    assert chaos.returncode == 0, chaos.stdout + chaos.stderr
    assert "OK: nothing lost" in chaos.stdout
    for fault in (
        "kill -9 orders",
        "kill -9 products",
        "kill -9 payments",
        "restart RabbitMQ",
        "restart PostgreSQL",
        "restart Redis",
    ):
        assert fault in chaos.stdout
