"""The RabbitMQ nodes an ``AMQP_URI`` names.

``AMQP_URI`` may list the nodes of a RabbitMQ cluster, separated by ``;`` (kombu's failover
syntax)::

    amqp://shop-orders:pw@rabbit-1:5672/shop;amqp://shop-orders:pw@rabbit-2:5672/shop

Every client of the shop connects to the first node that answers and, when it loses that one,
moves on to the next (kombu does so for nameko's consumers and publishers; the gateway's RPC
client in ``gateway.amqp_rpc``). ``starting_at`` gives each process its own first node, so that
the connections spread over the cluster instead of all landing on the first node.
"""

from __future__ import annotations

SEPARATOR = ";"


def nodes(amqp_uri: str) -> list[str]:
    """Each node's URI, in order; one for a plain URI."""
    found = [part.strip() for part in amqp_uri.split(SEPARATOR) if part.strip()]
    if not found:
        raise ValueError("AMQP_URI names no node")
    return found


def join(uris: list[str]) -> str:
    return SEPARATOR.join(uris)


def starting_at(amqp_uri: str, first: int) -> str:
    """``amqp_uri`` with its nodes rotated so that node ``first`` (modulo their number) comes
    first, the others following in their order: failover still reaches every one."""
    found = nodes(amqp_uri)
    first %= len(found)
    return join(found[first:] + found[:first])
