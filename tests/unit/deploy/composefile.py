"""docker-compose.yaml, read as Compose reads it, for the tests."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import yaml

from tests.conftest import ROOT

Compose = dict[str, Any]

REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")  # ${NAME:?message}: Compose refuses to start without
DEFAULTED = re.compile(r"\$\{(\w+):?-([^}]*)\}")  # ${NAME:-default}


class ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it, ``${NAME}`` left as text. Loading a service config (nameko's
    parser) teaches SafeLoader itself to expand ``${NAME:default}``, its own syntax."""

    yaml_implicit_resolvers = copy.deepcopy(yaml.resolver.Resolver.yaml_implicit_resolvers)


@cache
def _compose() -> Compose:
    return yaml.load((ROOT / "docker-compose.yaml").read_text(), Loader=ComposeLoader)


def compose() -> Compose:
    return copy.deepcopy(_compose())


def strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string value in a document (comments are not in it), with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


def required_variables() -> set[str]:
    """Every ``${NAME:?...}``: what Compose refuses to start without."""
    return {name for _, value in strings(compose()) for name in REQUIRED.findall(value)}
