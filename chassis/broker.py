"""The shop's broker users, each allowed what its program needs and nothing more.

Whoever can publish to the broker can call any service: nameko's RPC is a message to the
``nameko-rpc`` exchange with the routing key ``<service>.<method>``, and nothing in it says who
sent it. So each service and the gateway log in as a user of their own (``shop-orders``,
``shop-gateway``...), and RabbitMQ's permissions say what each may do:

* resources (configure / write / read regular expressions): its own queues (``rpc-<service>``,
  its event queues, their ``.retry`` and ``.dead`` queues, its reply queues), the exchanges it
  publishes to (``nameko-rpc``, ``<service>.events``, ``<service>.dlx``) and those it binds
  from. Not the default exchange, through which it could reach any queue by name;
* topic permissions on ``nameko-rpc``: the routing keys it may publish — the methods it calls
  (``CALLS``) and, for a service, its replies (uuids) — and bind (its own ``<service>.*``).

The operator's user (the one in ``AMQP_URI`` here: ``guest`` on a laptop, the RabbitMQ
operator's default user on Kubernetes) keeps every right: migrations, ``nameko shell``, the
dead-letter command and this one use it.

    python -m chassis.broker setup        # declare every queue, then make or update each user

Each user's password comes from ``<NAME>_AMQP_PASSWORD`` (``ORDERS_AMQP_PASSWORD``...); the
management API from ``RABBITMQ_API_URL`` (default: the broker's host, port 15672). Users are
made after every queue is declared: a service cannot log in, so cannot publish, before the
queues that keep its events exist.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kombu.utils.url import url_to_parts

from chassis import topology
from chassis.config import service_config
from chassis.nodes import join, nodes

RPC_EXCHANGE = "nameko-rpc"
GATEWAY = "gateway"
PRINCIPALS = (*topology.SERVICES, GATEWAY)
USER_PREFIX = "shop-"
# nameko names a reply queue after its owner and a uuid, and binds it with the uuid.
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_STANDALONE = "standalone_rpc_proxy"  # the owner's name in a standalone client's reply queue

# Which methods of which service each one calls. Each may ping those it calls, and the gateway
# every service (its readiness check does).
CALLS: dict[str, dict[str, tuple[str, ...]]] = {
    GATEWAY: {
        "users": ("register_user", "authenticate", "get_user"),
        "products": (
            "list_products",
            "get_product",
            "get_products",
            "create_product",
            "update_product",
        ),
        "orders": (
            "create_order",
            "get_order",
            "list_orders",
            "cancel_order",
            "sales_report",
            "get_cart",
            "add_to_cart",
            "set_cart_quantity",
            "remove_from_cart",
            "replace_cart",
            "clear_cart",
            "checkout_cart",
        ),
        "notifications": ("list_notifications",),
    },
    "orders": {
        "products": ("reserve_stock", "release_stock", "get_products"),
        "payments": ("charge", "refund"),
    },
    "notifications": {"users": ("get_user",)},
}
# Whose events each service consumes.
CONSUMES: dict[str, tuple[str, ...]] = {
    "orders": ("orders",),
    "notifications": ("users", "orders", "payments"),
}


@dataclass(frozen=True)
class Grant:
    """A user's permissions on one vhost: resources, and topics on ``nameko-rpc``."""

    configure: str
    write: str
    read: str
    topic_write: str
    topic_read: str


def _any(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


def grant(
    principal: str,
    calls_to: Mapping[str, Iterable[str]] | None = None,
    consumes: Iterable[str] | None = None,
) -> Grant:
    """What ``principal`` (a service's name, or ``gateway``) may do: by default, as ``CALLS``
    and ``CONSUMES`` say."""
    calls_to = CALLS.get(principal, {}) if calls_to is None else calls_to
    consumes = CONSUMES.get(principal, ()) if consumes is None else consumes
    calls = [
        re.escape(f"{service}.{method}")
        for service, methods in calls_to.items()
        for method in (*methods, "ping")
    ]
    if principal == GATEWAY:
        calls += [re.escape(f"{service}.ping") for service in topology.SERVICES]
        replies = rf"rpc\.reply-{_STANDALONE}-{_UUID}"
        return Grant(
            configure=_any(RPC_EXCHANGE, replies),
            write=_any(RPC_EXCHANGE, replies),
            read=_any(RPC_EXCHANGE, replies),
            topic_write=_any(*sorted(set(calls))),
            topic_read=_any(_UUID),
        )
    name = re.escape(principal)
    mine = [
        rf"rpc-{name}(\.dead)?",
        rf"evt-[a-z_]+-[a-z_]+--{name}\.[a-z_]+(\.retry|\.dead)?",
        rf"rpc\.reply-{name}-{_UUID}",
    ]
    own = [rf"{name}\.events", rf"{name}\.dlx"]
    sources = [rf"{re.escape(source)}\.events" for source in consumes]
    return Grant(
        configure=_any(RPC_EXCHANGE, *own, *sources, *mine),
        write=_any(RPC_EXCHANGE, *own, *mine),
        read=_any(RPC_EXCHANGE, *own, *sources, *mine),
        topic_write=_any(*sorted(set(calls)), _UUID),  # the calls it makes, the replies it sends
        topic_read=_any(rf"{name}\.\*", _UUID),  # its RPC queue's binding, its reply queues'
    )


def username(principal: str, prefix: str = USER_PREFIX) -> str:
    return f"{prefix}{principal}"


class ManagementApi:
    """The few calls of RabbitMQ's HTTP API this needs, with the operator's credentials."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def put(self, path: str, body: Mapping[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            data=json.dumps(body).encode(),
            headers=self.headers,
            method="PUT",
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"PUT {path}: {exc.code} {exc.read()[:300]!r}") from None

    def set_user(self, vhost: str, user: str, password: str, grant: Grant) -> None:
        quoted_vhost = urllib.parse.quote(vhost, safe="")
        quoted_user = urllib.parse.quote(user, safe="")
        self.put(f"users/{quoted_user}", {"password": password, "tags": ""})
        self.put(
            f"permissions/{quoted_vhost}/{quoted_user}",
            {"configure": grant.configure, "write": grant.write, "read": grant.read},
        )
        self.put(
            f"topic-permissions/{quoted_vhost}/{quoted_user}",
            {"exchange": RPC_EXCHANGE, "write": grant.topic_write, "read": grant.topic_read},
        )


def management_api(amqp_uri: str, api_url: str | None = None) -> tuple[ManagementApi, str]:
    """The management API of the broker in ``amqp_uri`` (of its first node), with its
    credentials, and the vhost."""
    parts = url_to_parts(nodes(amqp_uri)[0])
    url = api_url or f"http://{parts.hostname or '127.0.0.1'}:15672"
    vhost = parts.path or "/"
    return ManagementApi(url, parts.username or "guest", parts.password or "guest"), vhost


def user_uri(amqp_uri: str, user: str, password: str) -> str:
    """``amqp_uri`` (the operator's) with another user's credentials: the same broker (each of
    its nodes, when it lists a cluster's), the same vhost."""
    netloc = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@"
    uris = []
    for node in nodes(amqp_uri):
        parts = urllib.parse.urlsplit(node)
        host = parts.hostname or "127.0.0.1"
        port = f":{parts.port}" if parts.port else ""
        uris.append(urllib.parse.urlunsplit(parts._replace(netloc=f"{netloc}{host}{port}")))
    return join(uris)


def setup(
    amqp_uri: str,
    passwords: Mapping[str, str],
    services: Iterable[str] = topology.SERVICES,
    api_url: str | None = None,
    prefix: str = USER_PREFIX,
) -> list[str]:
    """Declare every service's queues, then make (or update) the user of each principal in
    ``passwords``; returns the users set."""
    for service in services:
        topology.declare_service(service, {**service_config(service), "AMQP_URI": amqp_uri})
    api, vhost = management_api(amqp_uri, api_url)
    users = []
    for principal, password in passwords.items():
        user = username(principal, prefix)
        api.set_user(vhost, user, password, grant(principal))
        users.append(user)
    return users


def passwords_from_env(principals: Iterable[str] = PRINCIPALS) -> dict[str, str]:
    """``<NAME>_AMQP_PASSWORD`` of each principal; fails naming the first one missing."""
    found = {}
    for principal in principals:
        variable = f"{principal.upper()}_AMQP_PASSWORD"
        value = os.environ.get(variable, "")
        if not value:
            raise SystemExit(f"{variable} is not set: each broker user needs a password")
        found[principal] = value
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["setup"])
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI"))
    args = parser.parse_args(argv)
    if not args.amqp_uri:
        parser.error("the operator's broker URI: --amqp-uri or AMQP_URI")
    users = setup(
        args.amqp_uri,
        passwords_from_env(),
        api_url=os.environ.get("RABBITMQ_API_URL") or None,
        prefix=os.environ.get("BROKER_USER_PREFIX", USER_PREFIX),
    )
    print(f"  broker: every queue declared; users {', '.join(users)}")


if __name__ == "__main__":
    main()
