"""Whether NetworkPolicies let one endpoint reach another: Kubernetes' rules, for the tests.

An endpoint is a pod (its namespace and labels) or an address outside the cluster. Traffic
passes when the source's egress and the destination's ingress both allow it; a pod that no
policy selects for a direction is open in that direction. Ports are numbers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Policy = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    namespace: str = ""  # empty: an address outside the cluster
    labels: dict[str, str] = field(default_factory=dict)
    ip: str = ""

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}


def pod(namespace: str, labels: dict[str, str]) -> Endpoint:
    return Endpoint(namespace, labels)


def outside(ip: str) -> Endpoint:
    return Endpoint(ip=ip)


def matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A label selector: ``{}`` selects everything."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        ok = {
            "In": present and labels.get(key) in (values or ()),
            "NotIn": not present or labels.get(key) not in (values or ()),
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


def peer_matches(peer: dict[str, Any], endpoint: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if not endpoint.ip:
            return False
        address = ipaddress.ip_address(endpoint.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if not endpoint.namespace:
        return False  # pod and namespace selectors select pods only
    if "namespaceSelector" in peer:
        if not matches(peer["namespaceSelector"], endpoint.namespace_labels):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return matches(peer.get("podSelector"), endpoint.labels)


def port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        first = entry.get("port")
        if first is None or first <= port <= entry.get("endPort", first):
            return True
    return False


def direction_allows(
    policies: list[Policy], target: Endpoint, peer: Endpoint, port: int, protocol: str, kind: str
) -> bool:
    """Whether ``target``'s ``kind`` ("Ingress" or "Egress") policies let ``peer`` through."""
    peers_key, rules_key = ("from", "ingress") if kind == "Ingress" else ("to", "egress")
    selecting = [
        policy
        for policy in policies
        if policy["metadata"]["namespace"] == target.namespace
        and kind in policy["spec"].get("policyTypes", ["Ingress"])
        and matches(policy["spec"]["podSelector"], target.labels)
    ]
    if not target.namespace or not selecting:
        return True
    namespace = target.namespace
    return any(
        port_matches(rule, port, protocol)
        # no peers listed: every peer
        and (
            not rule.get(peers_key)
            or any(peer_matches(entry, peer, namespace) for entry in rule[peers_key])
        )
        for policy in selecting
        for rule in policy["spec"].get(rules_key, [])
    )


def allowed(
    policies: list[Policy], source: Endpoint, destination: Endpoint, port: int, protocol="TCP"
) -> bool:
    return direction_allows(
        policies, source, destination, port, protocol, "Egress"
    ) and direction_allows(policies, destination, source, port, protocol, "Ingress")
