"""The NetworkPolicies allow the shop's own flows, and nothing else.

Pods carry the labels their rendered manifests give them; RabbitMQ's pods, made by its
operator, the labels the operator gives them.
"""

import pytest

from tests.unit.deploy.manifests import APPS, OVERLAYS, SERVICES, objects, workloads
from tests.unit.deploy.netpol import Endpoint, allowed, matches, outside, pod

NAME = "app.kubernetes.io/name"
# The labels the operator gives the pods of the RabbitmqCluster `rabbitmq`.
RABBITMQ = pod("shop", {NAME: "rabbitmq", "app.kubernetes.io/component": "rabbitmq"})
OUTSIDERS = {
    "rabbitmq": RABBITMQ,
    "kube-dns": pod("kube-system", {"k8s-app": "kube-dns"}),
    "metrics-server": pod("kube-system", {"k8s-app": "metrics-server"}),
    "ingress-controller": pod("ingress-nginx", {NAME: "ingress-nginx"}),
    "prometheus": pod("monitoring", {NAME: "prometheus"}),
    "rabbitmq-operator": pod("rabbitmq-system", {NAME: "rabbitmq-cluster-operator"}),
    "stranger": pod("default", {"app": "curious"}),
    "mail-relay": outside("203.0.113.25"),
    "web": outside("198.51.100.7"),
}

ALLOWED = [
    *[(name, "rabbitmq", 5672) for name in APPS],
    *[(name, "postgres", 5432) for name in SERVICES],
    *[(f"migrate-{name}", "postgres", 5432) for name in SERVICES],
    ("products", "redis", 6379),
    ("gateway", "redis", 6379),
    ("notifications", "mail-relay", 587),
    ("notifications", "mail-relay", 25),
    ("ingress-controller", "gateway", 8000),
    *[("gateway", name, 9100) for name in SERVICES],
    *[("prometheus", name, 9100) for name in APPS],  # the gateway's metrics: its ops port too
    ("rabbitmq", "rabbitmq", 25672),  # clustering
    ("broker-setup", "rabbitmq", 5672),  # declares the queues
    ("broker-setup", "rabbitmq", 15672),  # makes the users
    ("rabbitmq-operator", "rabbitmq", 15672),
]
DENIED = [
    ("users", "redis", 6379),  # only products and the gateway use Redis
    ("gateway", "postgres", 5432),  # the gateway owns no data
    ("migrate-users", "rabbitmq", 5672),
    ("orders", "mail-relay", 587),  # only notifications mails
    ("notifications", "web", 443),
    ("orders", "users", 9100),  # services talk over AMQP, not HTTP
    ("ingress-controller", "users", 9100),  # only the gateway is exposed
    ("stranger", "gateway", 8000),  # from outside, through the ingress controller only
    ("stranger", "rabbitmq", 5672),
    ("gateway", "rabbitmq", 15672),  # the management API is for the operator
    ("prometheus", "postgres", 5432),
    ("products", "postgres", 5433),
    ("ingress-controller", "gateway", 9100),  # readiness and metrics stay inside
    ("prometheus", "gateway", 8000),  # no metrics there any more
    ("broker-setup", "postgres", 5432),  # it holds no database's password either
    ("broker-setup", "web", 443),
]
# Every port the shop's pods or their peers listen on.
PORTS = (25, 53, 443, 587, 4369, 5432, 5672, 6379, 8000, 9100, 15672, 25672)


def endpoint(overlay: str, name: str) -> Endpoint:
    if name in OUTSIDERS:
        return OUTSIDERS[name]
    (workload,) = [
        w
        for w in workloads(overlay, "Deployment", "StatefulSet", "Job")
        if w["metadata"]["name"] == name
    ]
    return Endpoint("shop", workload["spec"]["template"]["metadata"]["labels"])


def passes(overlay: str, source: str, destination: str, port: int, protocol: str = "TCP") -> bool:
    policies = objects(overlay, "NetworkPolicy")
    return allowed(
        policies, endpoint(overlay, source), endpoint(overlay, destination), port, protocol
    )


overlays = pytest.mark.parametrize("overlay", OVERLAYS)


@overlays
def test_everything_is_denied_unless_a_policy_allows_it(overlay):
    (deny,) = [
        p for p in objects(overlay, "NetworkPolicy") if p["metadata"]["name"] == "default-deny"
    ]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # without it, a pod no other policy selects would be open
    others = [p for p in objects(overlay, "NetworkPolicy") if p is not deny]
    assert allowed(others, OUTSIDERS["stranger"], endpoint(overlay, "migrate-users"), 80)
    assert not passes(overlay, "stranger", "migrate-users", 80)


@overlays
@pytest.mark.parametrize("flow", ALLOWED, ids=lambda flow: "{}->{}:{}".format(*flow))
def test_the_shops_flows_are_allowed(overlay, flow):
    assert passes(overlay, *flow)


@overlays
@pytest.mark.parametrize("flow", DENIED, ids=lambda flow: "{}->{}:{}".format(*flow))
def test_anything_else_is_denied(overlay, flow):
    assert not passes(overlay, *flow)


def every_endpoint(overlay: str) -> list[str]:
    names = [w["metadata"]["name"] for w in workloads(overlay, "Deployment", "StatefulSet", "Job")]
    return [*names, *OUTSIDERS]


@overlays
def test_the_broker_setup_job_reaches_rabbitmq_and_nothing_else(overlay):
    reached = {
        (destination, port)
        for destination in every_endpoint(overlay)
        for port in PORTS
        if destination != "kube-dns" and passes(overlay, "broker-setup", destination, port)
    }
    assert reached == {("rabbitmq", 5672), ("rabbitmq", 15672)}


@overlays
def test_only_the_broker_setup_job_and_the_operator_reach_the_management_api(overlay):
    # whoever reaches it with a password can make users and grant them anything
    reaching = {
        source for source in every_endpoint(overlay) if passes(overlay, source, "rabbitmq", 15672)
    }
    assert reaching == {"broker-setup", "rabbitmq-operator"}


@overlays
@pytest.mark.parametrize(
    "name", [*APPS, "migrate-orders", "broker-setup", "postgres", "redis", "rabbitmq"]
)
def test_every_pod_can_resolve_names_and_nothing_more_in_kube_system(overlay, name):
    assert passes(overlay, name, "kube-dns", 53, "UDP")
    assert passes(overlay, name, "kube-dns", 53, "TCP")
    assert not passes(overlay, name, "metrics-server", 53, "UDP")


@overlays
def test_every_policy_selects_some_pod(overlay):
    names = [
        *APPS,
        *(f"migrate-{s}" for s in SERVICES),
        "broker-setup",
        "postgres",
        "redis",
        "rabbitmq",
    ]
    labels = [endpoint(overlay, name).labels for name in names]
    for policy in objects(overlay, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]
        assert any(matches(selector, pod_labels) for pod_labels in labels), policy["metadata"]
