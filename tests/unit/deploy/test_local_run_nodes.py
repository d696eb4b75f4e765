"""`make run` on a RabbitMQ cluster: each process is given every node, starting at one of its
own, so that the instances of a service sit on different nodes."""

from chassis.nodes import nodes
from tests.unit.deploy.test_images import APPS, local_run

CLUSTER = "amqp://u:p@127.0.0.1:5681/v;amqp://u:p@127.0.0.1:5682/v;amqp://u:p@127.0.0.1:5683/v"


def test_each_process_starts_at_a_node_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALE", "orders=2,products=2")
    module = local_run()
    cluster = module.Cluster(tmp_path)
    cluster.user_uris = {name: CLUSTER.replace("u:p", f"shop-{name}:x") for name in APPS}
    env: dict[str, str] = {}
    monkeypatch.setattr(
        cluster, "spawn", lambda name, command, **given: env.update({name: given["AMQP_URI"]})
    )
    for name in cluster.instances:
        cluster.start_service(name)
    cluster.start_gateway()

    def first_port(name: str) -> str:
        return nodes(env[name])[0].rsplit(":", 1)[1].split("/")[0]

    assert first_port("orders") != first_port("orders-2")
    assert first_port("products") != first_port("products-2")
    assert {first_port(name) for name in env} == {"5681", "5682", "5683"}
    for name, uri in env.items():  # and every node to fail over to
        ports = sorted(node.rsplit(":", 1)[1].split("/")[0] for node in nodes(uri))
        assert ports == ["5681", "5682", "5683"], name
    assert env["orders-2"].startswith("amqp://shop-orders:x@")  # its own service's user
