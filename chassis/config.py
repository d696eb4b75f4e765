"""Configuration: the same YAML files `nameko run --config` reads, for scripts and tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from nameko.cli.main import setup_yaml_parser

_parser_ready = False


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


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment, with a clear error when it is not one."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
