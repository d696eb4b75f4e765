"""deploy/secrets.py loaded as a module, and the env files it writes, read back."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from types import ModuleType

from tests.conftest import ROOT

SCRIPT = ROOT / "deploy" / "secrets.py"
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


@cache
def secrets_script() -> ModuleType:
    # Not imported by the name `secrets`: that is the standard library's module.
    spec = importlib.util.spec_from_file_location("deploy_secrets", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_env(text: str) -> dict[str, str]:
    """``KEY=value`` lines as a dict (comments and other lines skipped)."""
    found = {}
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match and not line.lstrip().startswith("#"):
            found[match[1]] = match[2].strip()
    return found


def generated(target: str) -> dict[str, str]:
    """Fresh secrets for ``target`` ("compose" or "kubernetes"), as the script prints them."""
    script = secrets_script()
    return parse_env(script.complete(script.TARGETS[target]))
