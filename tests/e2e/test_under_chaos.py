"""`make chaos`, reduced: 200 orders while services are killed and the servers restarted.

It runs last among the end-to-end tests (files run in name order): it restarts RabbitMQ,
PostgreSQL and Redis under the cluster, which must then still be whole for the account.
"""

from tests.conftest import chaos


def test_two_hundred_orders_through_kills_and_restarts_lose_nothing(cluster, cluster_env):
    printed = chaos(cluster_env, "--orders", "200", "--base", cluster)
    for fault in (
        "kill -9 orders",
        "kill -9 products",
        "kill -9 payments",
        "restart RabbitMQ",
        "restart PostgreSQL",
        "restart Redis",
    ):
        assert fault in printed
