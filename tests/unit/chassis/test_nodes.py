"""``AMQP_URI`` naming the nodes of a RabbitMQ cluster, in kombu's failover syntax."""

import pytest
from kombu import Connection

from chassis.nodes import nodes, starting_at

CLUSTER = "amqp://u:p@r1:5672/shop;amqp://u:p@r2:5672/shop;amqp://u:p@r3:5672/shop"


def test_a_plain_uri_is_one_node():
    assert nodes("amqp://u:p@r1:5672/") == ["amqp://u:p@r1:5672/"]


def test_a_list_is_split_on_semicolons_and_stripped():
    assert nodes(" amqp://a/ ; amqp://b/;") == ["amqp://a/", "amqp://b/"]
    with pytest.raises(ValueError):
        nodes(" ; ")


@pytest.mark.parametrize(("first", "hosts"), [(0, "r1 r2 r3"), (1, "r2 r3 r1"), (5, "r3 r1 r2")])
def test_each_process_can_start_at_a_node_of_its_own_and_keep_the_others(first, hosts):
    rotated = starting_at(CLUSTER, first)
    assert [node.split("@")[1].split(":")[0] for node in nodes(rotated)] == hosts.split()
    # kombu, which nameko's consumers and publishers use, reads it the same way
    connection = Connection(rotated)
    assert connection.hostname == hosts.split()[0]
    assert [alt.split("@")[1].split(":")[0] for alt in connection.alt] == hosts.split()
