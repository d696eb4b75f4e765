"""The broker users' permissions, as regular expressions: what each may name (the broker's own
enforcement is tried in tests/integration/test_broker_users.py)."""

import ast
import re
import uuid

import pytest
from nameko.containers import ServiceContainer

from chassis import broker, topology
from tests.conftest import ROOT


def allows(pattern: str, name: str) -> bool:
    return re.fullmatch(pattern, name) is not None


def gateway_calls() -> set[str]:
    """Every ``service.method`` the gateway's code calls: ``rpc().call("svc", "method", ...)``,
    ``read``, ``call_within(timeout, "svc", "method", ...)``."""
    found = set()
    for path in (ROOT / "gateway" / "gateway").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            strings = [a.value for a in node.args if isinstance(a, ast.Constant)]
            strings = [s for s in strings if isinstance(s, str)]
            if node.func.attr in ("call", "read", "call_within") and len(strings) >= 2:
                found.add(f"{strings[0]}.{strings[1]}")
    return found


def test_the_gateway_may_call_every_method_its_routes_call_and_no_other():
    grant = broker.grant(broker.GATEWAY)
    calls = gateway_calls()
    assert "users.authenticate" in calls  # the scan finds them
    for call in calls:
        assert allows(grant.topic_write, call), call
    for call in ("users.register_admin", "payments.refund", "payments.charge", "users.*", "#"):
        assert not allows(grant.topic_write, call), call
    for service in topology.SERVICES:  # its readiness check pings each
        assert allows(grant.topic_write, f"{service}.ping")
    assert not allows(grant.topic_write, str(uuid.uuid4()))  # it serves nothing: no replies


@pytest.mark.parametrize("service", topology.SERVICES)
def test_a_service_may_name_its_own_queues_and_replies_only(service):
    grant = broker.grant(service)
    config = {"AMQP_URI": "memory://"}
    for queue in topology.queues(topology.service_class(service), config):
        for permission in (grant.configure, grant.write, grant.read):
            assert allows(permission, queue.name), (queue.name, permission)
        assert allows(grant.read, queue.exchange.name)
    assert allows(grant.topic_read, f"{service}.*")
    assert allows(grant.topic_write, str(uuid.uuid4()))  # its replies
    others = [other for other in topology.SERVICES if other != service]
    for other in others:
        assert not allows(grant.configure, f"rpc-{other}")
        assert not allows(grant.read, f"rpc-{other}")
        assert not allows(grant.write, f"{other}.events")
        assert not allows(grant.topic_read, f"{other}.*")
    for permission in (grant.configure, grant.write, grant.read):
        assert not allows(permission, "amq.default")
        assert not allows(permission, "")


def test_each_service_is_allowed_what_its_code_calls():
    for service, cls in ((s, topology.service_class(s)) for s in topology.SERVICES):
        container = ServiceContainer(cls, {"AMQP_URI": "memory://"})
        targets = {
            dep.target_service for dep in container.dependencies if hasattr(dep, "target_service")
        }
        assert targets == set(broker.CALLS.get(service, {})), service


def test_a_users_uri_keeps_the_operators_broker_and_vhost():
    uri = broker.user_uri("amqp://guest:guest@10.0.0.5:5672/shop", "shop-orders", "p@ss/wörd")
    assert uri == "amqp://shop-orders:p%40ss%2Fw%C3%B6rd@10.0.0.5:5672/shop"
    api, vhost = broker.management_api("amqp://admin:secret@rabbit:5672/")
    assert (api.url, vhost) == ("http://rabbit:15672", "/")


def test_every_password_is_required(monkeypatch):
    for principal in broker.PRINCIPALS:
        monkeypatch.setenv(f"{principal.upper()}_AMQP_PASSWORD", "x" * 24)
    assert set(broker.passwords_from_env()) == set(broker.PRINCIPALS)
    monkeypatch.delenv("GATEWAY_AMQP_PASSWORD")
    with pytest.raises(SystemExit, match="GATEWAY_AMQP_PASSWORD"):
        broker.passwords_from_env()


def test_a_users_uri_lists_every_node_the_operators_lists():
    operator = "amqp://admin:s@rabbit-0:5672/shop;amqp://admin:s@rabbit-1:5672/shop"
    assert broker.user_uri(operator, "shop-orders", "pw") == (
        "amqp://shop-orders:pw@rabbit-0:5672/shop;amqp://shop-orders:pw@rabbit-1:5672/shop"
    )
    api, vhost = broker.management_api(operator)  # the first node's
    assert (api.url, vhost) == ("http://rabbit-0:15672", "shop")
