"""The gateway's pooled RPC clients outlive the broker closing their connections (what a broker
restart does): a client that sat idle meanwhile is lent again and works, and the request it
carries is carried out once."""

import shutil
import subprocess
import uuid

import pytest
from nameko.rpc import rpc

from gateway.rpc import RpcPool

DONE: list[str] = []


class Probe:
    name = "pool_probe"

    @rpc
    def touch(self, token):
        DONE.append(token)
        return token


def close_connections(vhost: str) -> None:
    """What a broker restart does to every client: its connections are closed under it."""
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        pytest.fail("rabbitmqctl is not on PATH: install rabbitmq-server (`make stack`)")
    subprocess.run(
        [tool, "close_all_connections", "-p", vhost, "the broker restarts"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_a_client_the_broker_disconnected_while_idle_is_not_lent(container_factory, rabbit_config):
    pool = RpcPool(rabbit_config["AMQP_URI"], size=2, timeout=5)
    try:
        with pool.client(), pool.client():  # two connected clients, both idle afterwards
            pass
        close_connections(rabbit_config["AMQP_URI"].rsplit("/", 1)[1])
        container_factory(Probe, rabbit_config).start()
        token = uuid.uuid4().hex
        assert pool.call("pool_probe", "touch", token) == token
        assert pool.call("pool_probe", "touch", "again") == "again"
        assert DONE.count(token) == 1
    finally:
        pool.close()
