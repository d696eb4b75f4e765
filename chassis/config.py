"""Configuration: the same YAML files `nameko run --config` reads, for scripts and tests."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from nameko.cli.main import setup_yaml_parser

_parser_ready = False

Number = TypeVar("Number", int, float)


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a service config file, expanding ``${VAR:default}`` from the environment now.

    The expansion is nameko's own, so a script sees exactly what ``nameko run`` would.
    """
    global _parser_ready
    if not _parser_ready:
        setup_yaml_parser()
        _parser_ready = True
    with Path(path).open() as handle:
        return yaml.safe_load(handle) or {}


def service_root(service: str) -> Path:
    """The folder holding ``config.yaml`` and ``migrations/`` for an installed service package."""
    module = importlib.import_module(service)
    return Path(module.__file__ or "").resolve().parent.parent


def service_config(service: str) -> dict[str, Any]:
    """The installed service's ``config.yaml``, its placeholders filled from the environment."""
    return load_config(service_root(service) / "config.yaml")


def _env_number(name: str, default: Number, kind: type[Number]) -> Number:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number ({kind.__name__}), got {raw!r}") from None


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment, with a clear error when it is not one."""
    return _env_number(name, default, int)


def env_float(name: str, default: float) -> float:
    """A number setting from the environment, with a clear error when it is not one."""
    return _env_number(name, default, float)


def setting(config: Mapping[str, Any], name: str, default: Number) -> Number:
    """A numeric setting from a service's config, as the type of ``default``.

    YAML gives ``${VAR:5}`` back as an int or a str depending on what the variable holds; this
    turns either into the expected type, or fails at start-up naming the setting.
    """
    raw = config.get(name)
    if raw is None or raw == "":
        return default
    kind = type(default)
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number ({kind.__name__}), got {raw!r}") from None
