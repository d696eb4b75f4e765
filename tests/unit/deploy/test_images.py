"""deploy/docker/Dockerfile: each image runs its program as `make run` starts it, as PID 1, as an
unprivileged user, with a health check, from only what it needs, with nothing written outside
/tmp (read-only root filesystem)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from chassis import broker, migrate, topology
from tests.conftest import ROOT
from tests.unit.deploy.images import (
    DOCKERIGNORE,
    Dockerfile,
    dockerfile,
    ignore_patterns,
    ignored,
    parse,
)
from tests.unit.deploy.manifests import reads

SERVICES = ("users", "products", "orders", "payments", "notifications")
APPS = (*SERVICES, "gateway")
TARGETS = (*SERVICES, "gateway", "migrate", "smtp-sink")
LONG_RUNNING = (*SERVICES, "gateway", "smtp-sink")
HEALTHCHECK_SCRIPT = "/usr/local/lib/shop/healthcheck.py"
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/env"}
# Set for Python and the virtualenv itself, not settings of the shop's programs.
RUNTIME_ENV = {"PATH", "VIRTUAL_ENV", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


def local_run():
    """deploy/local/run.py, the `make run` supervisor, as a module."""
    spec = importlib.util.spec_from_file_location("local_run", ROOT / "deploy/local/run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def started_locally(tmp_path, monkeypatch):
    """The command line `make run` starts each program with: {name: argv}."""
    module = local_run()
    cluster = module.Cluster(tmp_path)
    # as broker_users() leaves them, without a broker
    cluster.user_uris = {name: f"amqp://shop-{name}:x@127.0.0.1:5672/" for name in APPS}
    argv: dict[str, list[str]] = {}
    monkeypatch.setattr(cluster, "spawn", lambda name, command, **env: argv.update({name: command}))
    for name in SERVICES:
        cluster.start_service(name)
    cluster.start_gateway()
    return argv


def test_every_image_has_a_target_on_the_python_slim_base():
    image = dockerfile()
    assert image.global_args["PYTHON_IMAGE"] == "python:3.11-slim"
    for target in TARGETS:
        assert image.chain(target)[-1].base == "${PYTHON_IMAGE}", target


@pytest.mark.parametrize("target", TARGETS)
def test_runs_as_a_fixed_unprivileged_user(target):
    image = dockerfile()
    user = image.effective(target, "USER")
    assert user is not None, f"{target} runs as root"
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit() and int(uid) >= 1000, user  # numeric: runAsNonRoot can verify it
    created = " ".join(i.args for i in image.stages["runtime"].all("RUN"))
    assert f"--uid {uid}" in created and f"--gid {gid or uid}" in created


@pytest.mark.parametrize("target", TARGETS)
def test_the_program_is_pid_1_through_an_exec_form_command(target):
    image = dockerfile()
    assert image.effective(target, "ENTRYPOINT") is None  # nothing wraps the command
    command = image.effective(target, "CMD")
    assert command is not None, target
    argv = command.exec_form()
    assert argv, f"{target}: CMD {command.args} is in shell form: a shell would get SIGTERM"
    assert argv[0] not in SHELLS, argv


def test_each_image_starts_its_program_as_make_run_does(started_locally):
    image = dockerfile()
    for name, local in started_locally.items():
        argv = image.effective(name, "CMD").exec_form()
        if name == "gateway":  # in memory, as the root filesystem is read-only
            at = argv.index("--worker-tmp-dir")
            assert argv[at + 1] == "/dev/shm"
            argv = argv[:at] + argv[at + 2 :]
        assert [Path(local[0]).name, *local[1:]] == argv, name


def test_the_smtp_sink_runs_the_local_sink_script():
    argv = dockerfile().effective("smtp-sink", "CMD").exec_form()
    assert argv[:2] == ["python", "deploy/local/smtp_sink.py"]
    assert (ROOT / argv[1]).is_file()
    assert "--host" not in argv and "--port" not in argv  # the script reads SMTP_HOST, SMTP_PORT
    env = dockerfile().env("smtp-sink")
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("0.0.0.0", "1025")


@pytest.mark.parametrize(
    ("target", "address"),
    [
        *((s, "http://127.0.0.1:${OPS_PORT}/health/live") for s in SERVICES),
        ("gateway", "http://127.0.0.1:${GATEWAY_OPS_PORT}/health/live"),
        ("smtp-sink", "tcp://127.0.0.1:${SMTP_PORT}"),
    ],
)
def test_long_running_images_probe_their_liveness_without_curl(target, address):
    image = dockerfile()
    check = image.effective(target, "HEALTHCHECK")
    assert check is not None and check.args != "NONE", target
    assert check.exec_form() == ["python", HEALTHCHECK_SCRIPT, address]
    port = re.search(r"\$\{(\w+)\}", address)
    if port:  # the variable the probe reads is one the image sets
        assert image.env(target)[port.group(1)].isdigit()
    sources = [
        (sources, dest)
        for stage in image.chain(target)
        for _, sources, dest in image.copies(stage.name)
    ]
    assert (["deploy/docker/healthcheck.py"], HEALTHCHECK_SCRIPT) in sources


def run_python_command(argv: list[str], monkeypatch) -> list[tuple[str, list[str]]]:
    """Run an image's ``python -m chassis.migrate ARGS...`` here, with the migrations and
    chassis.broker's ``main`` replaced: the steps it takes, in order."""
    assert argv[:3] == ["python", "-m", "chassis.migrate"], argv
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(
        migrate,
        "upgrade",
        lambda service, config=None: (
            calls.append(("migrate", [service])) or "postgresql://x@host/db"
        ),
    )
    monkeypatch.setattr(broker, "main", lambda args=None: calls.append(("broker", args)))
    migrate.main(argv[3:])
    return calls


def test_the_one_shot_migrate_image_has_no_health_check_and_migrates_every_service(monkeypatch):
    image = dockerfile()
    assert image.effective("migrate", "HEALTHCHECK").args == "NONE"
    argv = image.effective("migrate", "CMD").exec_form()
    # every database first, then the broker's queues and users (`python -m chassis.broker setup`)
    assert run_python_command(argv, monkeypatch) == [
        *(("migrate", [service]) for service in SERVICES),
        ("broker", ["setup"]),
    ]


def test_the_migrate_image_holds_every_service_the_broker_setup_declares():
    image = dockerfile()
    copied = {
        source.rstrip("/")
        for stage in image.chain("migrate")
        for origin, sources, _ in image.copies(stage.name)
        if origin is None
        for source in sources
    }
    assert {"chassis", *topology.SERVICES} <= copied
    installs = " ".join(i.args for s in image.chain("build-migrate") for i in s.all("RUN"))
    assert all(f"-e ./{service}" in installs for service in topology.SERVICES)


def test_a_migrate_command_that_skips_the_broker_is_caught(monkeypatch):
    argv = ["python", "-m", "chassis.migrate", *SERVICES]
    assert ("broker", ["setup"]) not in run_python_command(argv, monkeypatch)


def test_services_listen_for_probes_on_every_interface_of_the_container():
    for name in SERVICES:
        env = dockerfile().env(name)
        assert env["OPS_HOST"] == "0.0.0.0"
        assert env["OPS_PORT"] in dockerfile().effective(name, "EXPOSE").args.split()
    gateway = dockerfile().env("gateway")
    exposed = dockerfile().effective("gateway", "EXPOSE").args.split()
    for host, port in (("GATEWAY_HOST", "GATEWAY_PORT"), ("GATEWAY_OPS_HOST", "GATEWAY_OPS_PORT")):
        assert gateway[host] == "0.0.0.0"
        assert gateway[port] in exposed
    assert gateway["GATEWAY_PORT"] != gateway["GATEWAY_OPS_PORT"]


def test_nothing_is_written_outside_tmp_at_run_time():
    image = dockerfile()
    for target in TARGETS:
        assert image.env(target)["PYTHONDONTWRITEBYTECODE"] == "1", target
    assert image.env("gateway")["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")


@pytest.mark.parametrize("target", [*SERVICES, "gateway"])
def test_an_image_holds_its_own_code_and_chassis_only(target):
    image = dockerfile()
    copied = {
        source.rstrip("/").split("/")[0]
        for stage in image.chain(target)
        for origin, sources, _ in image.copies(stage.name)
        if origin is None
        for source in sources
    }
    assert copied == {"chassis", target, "deploy"}, copied  # deploy/: the health probe only
    (venv,) = [origin for origin, _, dest in image.copies(target) if dest == "/opt/venv"]
    installs = " ".join(i.args for s in image.chain(venv) for i in s.all("RUN"))
    assert f"-e ./{target}" in installs
    others = set(SERVICES) - {target}
    assert not any(f"./{other}" in installs for other in others), installs


def test_every_install_is_pinned_by_the_constraints_file():
    for stage in dockerfile().stages.values():
        for run in stage.all("RUN"):
            if "pip install" in run.args:
                assert "-c constraints.txt" in run.args, run


def test_image_settings_are_ones_the_programs_read():
    image = dockerfile()
    for target in (*SERVICES, "gateway"):
        settings = set(image.env(target)) - RUNTIME_ENV
        assert settings <= reads(target), (target, settings - reads(target))


def test_no_secret_is_baked_into_an_image():
    for stage in dockerfile().stages.values():
        for instruction in stage.all("ENV") + stage.all("ARG"):
            assert not re.search(r"SECRET|PASSWORD|TOKEN|_KEY\b", instruction.args), instruction


def test_every_copied_source_exists_and_reaches_the_build_context():
    patterns = ignore_patterns(DOCKERIGNORE.read_text())
    image = dockerfile()
    for stage in image.stages.values():
        for origin, sources, _ in image.copies(stage.name):
            if origin is not None:
                assert origin in image.stages, (stage.name, origin)
                continue
            for source in sources:
                assert (ROOT / source).exists(), (stage.name, source)
                assert not ignored(source, patterns), (stage.name, source)


def test_the_build_context_leaves_out_local_state_and_tests():
    patterns = ignore_patterns(DOCKERIGNORE.read_text())
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        ".run/logs/users.log",
        ".env",
        ".env.new",  # `make secrets` writes it, then moves it over .env
        "secrets.env",
        "deploy/kubernetes/overlays/production/secrets.env",
        "bench/results/run.json",
        "tests/conftest.py",
        "users/users/__pycache__/service.cpython-311.pyc",
        "users/shop_users.egg-info/PKG-INFO",
        ".pytest_cache/README.md",
        ".mypy_cache/3.11/x.json",
    ):
        assert ignored(path, patterns), path
    for path in ("chassis/config.py", "users/migrations/env.py", "constraints.txt"):
        assert not ignored(path, patterns), path


def test_the_checks_fail_on_a_shell_form_command_and_a_root_user():
    broken = parse(
        "ARG PYTHON_IMAGE=python:3.11-slim\n"
        "FROM ${PYTHON_IMAGE} AS users\n"
        "USER root\n"
        "CMD nameko run --config users/config.yaml users.service\n"
    )
    assert isinstance(broken, Dockerfile)
    assert broken.effective("users", "CMD").exec_form() is None
    assert not broken.effective("users", "USER").args.partition(":")[0].isdigit()
