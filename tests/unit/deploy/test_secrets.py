"""deploy/secrets.py: fresh, long, URL-safe secrets for exactly the keys docker-compose.yaml
requires and the Secret `shop-secrets` holds; `--keep` completes a file without changing a value
in it; `make secrets` writes .env that way; and the files it writes stay out of git and images."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import urllib.parse

import pytest

from chassis import broker
from gateway.config import check_secret
from tests.conftest import ROOT
from tests.unit.deploy.composefile import required_variables
from tests.unit.deploy.envfiles import SCRIPT, generated, parse_env, secrets_script
from tests.unit.deploy.images import DOCKERIGNORE, ignore_patterns, ignored
from tests.unit.deploy.manifests import OVERLAYS, SHOP_SECRETS, containers, workloads

TARGETS = ("compose", "kubernetes")


def run(*args: str, cwd=ROOT) -> str:
    """The script as users run it: its own interpreter, no site-packages (-S), isolated (-I),
    so it proves to need the standard library only."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout


def kubernetes_references() -> set[str]:
    return {
        entry["valueFrom"]["secretKeyRef"]["key"]
        for overlay in OVERLAYS
        for workload in workloads(overlay, "Deployment", "StatefulSet", "Job")
        for container in containers(workload)
        for entry in container.get("env", [])
        if entry.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == SHOP_SECRETS
    }


def test_compose_gets_every_key_docker_compose_requires_and_only_those():
    printed = parse_env(run("compose"))
    assert set(printed) == required_variables()


def test_kubernetes_gets_every_key_of_shop_secrets_the_manifests_use_and_only_those():
    printed = parse_env(run("kubernetes"))
    assert set(printed) == kubernetes_references()
    example = ROOT / "deploy/kubernetes/overlays/production/secrets.env.example"
    assert set(parse_env(example.read_text())) == set(printed)


@pytest.mark.parametrize("target", TARGETS)
def test_there_is_a_password_for_each_broker_user(target):
    expected = {f"{principal.upper()}_AMQP_PASSWORD" for principal in broker.PRINCIPALS}
    assert {key for key in generated(target) if key.endswith("_AMQP_PASSWORD")} == expected


@pytest.mark.parametrize("target", TARGETS)
def test_the_output_is_key_value_lines_only(target):
    lines = run(target).splitlines()
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*=\S+", line) for line in lines), lines
    assert len(lines) == len(set(line.split("=")[0] for line in lines))


@pytest.mark.parametrize("target", TARGETS)
def test_values_are_fresh_long_and_url_safe(target):
    first, second = generated(target), generated(target)
    values = list(first.values())
    assert len(set(values)) == len(values)  # no two keys share a value
    for key, value in first.items():
        assert value != second[key], key  # a new one each run
        assert len(value) >= 32, key
        # it goes into URLs, command lines and env files as it is
        assert urllib.parse.quote(value, safe="") == value and not value.startswith("-"), key
    check_secret(first["JWT_SECRET"])  # the gateway takes it


def test_keep_preserves_every_value_and_line_and_adds_what_is_missing(tmp_path):
    existing = tmp_path / ".env"
    existing.write_text(
        "# mine\n"
        "TAG=1.2.0\n"
        "POSTGRES_PASSWORD=the-one-the-volume-holds\n"
        "export REDIS_PASSWORD=kept-too\n"
        "JWT_SECRET=\n"  # empty: filled in
    )
    printed = run("compose", "--keep", str(existing))
    lines = printed.splitlines()
    assert lines[:4] == existing.read_text().splitlines()[:4]  # as they were, in order
    assert re.fullmatch(r"JWT_SECRET=[0-9a-f]{64}", lines[4])
    values = parse_env(printed)
    assert values["POSTGRES_PASSWORD"] == "the-one-the-volume-holds"
    assert values["REDIS_PASSWORD"] == "kept-too"
    assert set(values) == required_variables() | {"TAG"}
    assert existing.read_text().startswith("# mine")  # the file itself is only read
    # once complete, it comes out the same
    existing.write_text(printed)
    assert run("compose", "--keep", str(existing)) == printed


def test_keep_with_no_file_starts_afresh(tmp_path):
    printed = parse_env(run("kubernetes", "--keep", str(tmp_path / "secrets.env")))
    assert set(printed) == set(generated("kubernetes"))


def test_an_unknown_target_is_refused():
    with pytest.raises(SystemExit):
        secrets_script().main(["swarm"])


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_make_secrets_writes_env_once_and_then_only_completes_it(tmp_path):
    (tmp_path / "deploy").mkdir()
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(SCRIPT, tmp_path / "deploy")
    make = ["make", "--no-print-directory", "secrets"]
    subprocess.run(make, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    env = tmp_path / ".env"
    first = parse_env(env.read_text())
    assert set(first) == required_variables()
    assert env.stat().st_mode & 0o077 == 0  # readable by its owner only
    with env.open("a") as handle:
        handle.write("TAG=1.2.0\n")
    subprocess.run(make, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert parse_env(env.read_text()) == {**first, "TAG": "1.2.0"}
    assert not (tmp_path / ".env.new").exists()


@pytest.mark.parametrize(
    "path", [".env", ".env.new", "secrets.env", "deploy/kubernetes/overlays/dev/secrets.env"]
)
def test_the_files_it_writes_stay_out_of_images_and_git(path):
    assert ignored(path, ignore_patterns(DOCKERIGNORE.read_text()))
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    # --no-index: whether the rules ignore it, whatever git already tracks
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, timeout=30, check=False
    )
    assert result.returncode == 0, f"{path} is not ignored by git"
