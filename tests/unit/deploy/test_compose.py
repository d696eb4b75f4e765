"""docker-compose.yaml: a valid Compose file whose images exist in the Dockerfile, whose services
start in order once what they need is healthy, scale, and are configured only with settings
their programs read; that refuses to start without each secret and holds none itself; where each
program logs in to the broker as its own user; Prometheus and Grafana find what they are pointed
at."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
import yaml

from chassis import broker
from gateway.config import PUBLISHED_SECRETS, parse_ops_urls
from tests.conftest import ROOT
from tests.unit.deploy.composefile import (
    DEFAULTED,
    REQUIRED,
    Compose,
    compose,
    required_variables,
    strings,
)
from tests.unit.deploy.envfiles import generated
from tests.unit.deploy.images import dockerfile
from tests.unit.deploy.manifests import python_reads, reads

SERVICES = ("users", "products", "orders", "payments", "notifications")
APPS = (*SERVICES, "gateway")
SERVERS = {"rabbitmq": {5672, 15672}, "postgres": {5432}, "redis": {6379}}  # what `make run` uses
ONE_SHOT = {"migrate"}
# Read by Python itself, not by the shop's configuration.
RUNTIME_ENV = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONWARNINGS"}
# Names of settings that hold a secret.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASS$|TOKEN|AUTH")


@cache
def compose_schema() -> dict[str, Any]:
    """The Compose specification's JSON schema, as the pinned check-jsonschema ships it."""
    vendored = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text())


@cache
def secrets() -> dict[str, str]:
    """A .env as `make secrets` writes it (deploy/secrets.py)."""
    return generated("compose")


class Refused(Exception):
    """Compose stops: a variable it requires (``${NAME:?...}``) is unset or empty."""


def interpolate(value: str, env: Mapping[str, str] | None = None) -> str:
    """A value as Compose makes it with ``env`` set and nothing else (by default, the .env
    `make secrets` writes): ``${NAME:?message}`` gives its value, which it must have,
    ``${NAME:-default}`` its value or the default, ``$$`` a ``$``."""
    env = secrets() if env is None else env

    def required(match: re.Match[str]) -> str:
        if not env.get(match[1]):
            raise Refused(match[1])
        return env[match[1]]

    value = REQUIRED.sub(required, value)
    value = DEFAULTED.sub(lambda match: env.get(match[1]) or match[2], value)
    assert not re.search(r"\$\{?\w", value.replace("$$", "")), f"{value}: no default"
    return value.replace("$$", "$")


def environment(service: Compose) -> dict[str, str | None]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping, so anchors can merge it"
    return {key: None if value is None else interpolate(str(value)) for key, value in env.items()}


def built(doc: Compose) -> dict[str, str]:
    """Service name -> its Dockerfile target, for the services built here."""
    return {name: s["build"]["target"] for name, s in doc["services"].items() if "build" in s}


def program_reads(target: str) -> frozenset[str]:
    if target == "smtp-sink":
        return python_reads("deploy/local/smtp_sink.py")
    return reads(target)


def unknown_settings(doc: Compose) -> dict[str, set[str]]:
    """For each service built here: the variables it is given that its program never reads."""
    unknown = {}
    for name, target in built(doc).items():
        extra = set(environment(doc["services"][name])) - program_reads(target) - RUNTIME_ENV
        if extra:
            unknown[name] = extra
    return unknown


def unconditional_dependencies(doc: Compose) -> list[str]:
    problems = []
    for name, service in doc["services"].items():
        depends = service.get("depends_on", {})
        if not isinstance(depends, dict):
            problems.append(f"{name}: depends_on {depends} has no condition")
            continue
        problems += [f"{name} -> {dep}" for dep, how in depends.items() if "condition" not in how]
    return problems


def test_the_file_validates_against_the_compose_specification():
    validator = jsonschema.validators.validator_for(compose_schema())(compose_schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []


def test_the_schema_check_rejects_a_misspelt_key():
    doc = compose()
    doc["services"]["orders"]["helthcheck"] = doc["services"]["orders"].pop("healthcheck")
    validator = jsonschema.validators.validator_for(compose_schema())(compose_schema())
    assert list(validator.iter_errors(doc))


def test_every_build_names_the_dockerfile_and_a_target_in_it():
    image = dockerfile()
    for name, service in compose()["services"].items():
        if "build" not in service:
            continue
        build = service["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
        assert build["target"] in image.stages, (name, build["target"])
        assert set(build.get("args", {})) <= set(image.global_args), name
    assert set(built(compose()).values()) == {*SERVICES, "gateway", "migrate", "smtp-sink"}


def test_every_long_running_service_has_a_healthcheck():
    for name, service in compose()["services"].items():
        check = service.get("healthcheck", {})
        if name in ONE_SHOT:
            assert check.get("disable") is True and service["restart"] == "no", name
        else:
            assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_every_dependency_waits_for_a_condition():
    doc = compose()
    assert unconditional_dependencies(doc) == []
    for name, service in doc["services"].items():
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in doc["services"], (name, dependency)
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert how["condition"] == expected, (name, dependency)


def test_a_dependency_without_a_condition_is_caught():
    doc = compose()
    doc["services"]["gateway"]["depends_on"] = ["users"]
    doc["services"]["products"]["depends_on"]["redis"] = {"required": True}
    assert unconditional_dependencies(doc) == [
        "products -> redis",
        "gateway: depends_on ['users'] has no condition",
    ]


def test_each_service_waits_for_its_database_broker_and_peers():
    services = compose()["services"]
    for name in SERVICES:
        assert {"migrate", "rabbitmq", "postgres"} <= set(services[name]["depends_on"]), name
    assert "redis" in services["products"]["depends_on"]
    assert "smtp-sink" in services["notifications"]["depends_on"]
    assert {*SERVICES, "rabbitmq", "redis"} <= set(services["gateway"]["depends_on"])
    # it makes the databases, then the broker's queues and users
    assert set(services["migrate"]["depends_on"]) == {"postgres", "rabbitmq"}


def test_settings_are_only_ones_the_programs_read():
    assert unknown_settings(compose()) == {}


def test_a_misspelt_setting_is_caught():
    doc = compose()
    doc["services"]["orders"]["environment"]["SAGA_DEADLIN"] = "60"
    doc["services"]["gateway"]["environment"]["RATE_LIMITS_ENABLED"] = "false"
    assert unknown_settings(doc) == {"orders": {"SAGA_DEADLIN"}, "gateway": {"RATE_LIMITS_ENABLED"}}


def test_each_service_uses_its_own_database():
    services = compose()["services"]
    for name in SERVICES:
        variable = f"{name.upper()}_DATABASE_URL"
        for user in (name, "migrate"):
            url = environment(services[user])[variable]
            assert re.fullmatch(rf"postgresql\+psycopg2://[^@]+@postgres:5432/{name}", url), url


def test_services_reach_the_servers_by_their_compose_names():
    services = compose()["services"]
    for name in (*APPS, "migrate"):
        assert "@rabbitmq:5672/" in environment(services[name])["AMQP_URI"], name
    for name in ("products", "gateway"):
        assert re.fullmatch(
            r"redis://:[^@]+@redis:6379/\d+", environment(services[name])["REDIS_URL"]
        )
    mail = environment(services["notifications"])
    assert (mail["SMTP_HOST"], mail["SMTP_PORT"]) == ("smtp-sink", "1025")


def test_the_services_can_scale():
    doc = compose()
    for name, service in doc["services"].items():
        assert "container_name" not in service, name
    for name in (*SERVICES, "migrate", "smtp-sink"):
        assert "ports" not in doc["services"][name], name


def test_service_probes_use_the_ops_port_they_are_given():
    services = compose()["services"]
    for name in SERVICES:
        env = environment(services[name])
        assert env["OPS_HOST"] == "0.0.0.0"
        assert services[name]["healthcheck"]["test"][-1] == (
            f"http://127.0.0.1:{env['OPS_PORT']}/health/ready"
        )
    # the whole shop's readiness, on the gateway's ops port
    assert services["gateway"]["healthcheck"]["test"][-1] == (
        f"http://127.0.0.1:{gateway_ops_port()}/health/ready"
    )


def gateway_ops_port() -> str:
    gateway = environment(compose()["services"]["gateway"])
    return gateway.get("GATEWAY_OPS_PORT") or dockerfile().env("gateway")["GATEWAY_OPS_PORT"]


def test_the_gateway_publishes_its_api_and_not_its_ops_port():
    gateway = compose()["services"]["gateway"]
    env = {**dockerfile().env("gateway"), **environment(gateway)}
    published = {interpolate(port).split(":")[-1] for port in gateway["ports"]}
    assert published == {env["GATEWAY_PORT"]}
    assert env["GATEWAY_OPS_PORT"] != env["GATEWAY_PORT"]
    assert env["GATEWAY_OPS_HOST"] == "0.0.0.0"  # reached by Prometheus on the compose network


def test_the_gateway_asks_each_service_at_its_ops_port():
    services = compose()["services"]
    urls = parse_ops_urls(environment(services["gateway"])["SERVICE_OPS_URLS"])
    assert urls == {
        name: f"http://{name}:{environment(services[name])['OPS_PORT']}" for name in SERVICES
    }


def test_ports_are_published_on_loopback_only_and_servers_keep_theirs():
    services = compose()["services"]
    published: dict[str, set[int]] = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            host, host_port, container_port = interpolate(port).split(":")
            assert host == "127.0.0.1", (name, port)
            published.setdefault(name, set()).add(int(container_port))
            assert host_port == container_port, (name, port)
    for name, ports in SERVERS.items():
        assert published[name] == ports, name
        assert "depends_on" not in services[name]  # `up -d rabbitmq postgres redis` starts 3
    assert published["gateway"] == {8000}


def test_stopping_waits_longer_than_the_programs_own_bound():
    services = compose()["services"]

    def seconds(value: str) -> int:
        return int(value.removesuffix("s"))

    for name in SERVICES:
        bound = int(environment(services[name])["SHUTDOWN_TIMEOUT"])
        assert seconds(services[name]["stop_grace_period"]) > bound, name
    gateway_bound = 20  # GATEWAY_GRACEFUL_TIMEOUT's default in gateway/gunicorn.conf.py
    assert "GATEWAY_GRACEFUL_TIMEOUT" not in environment(services["gateway"])
    assert seconds(services["gateway"]["stop_grace_period"]) > gateway_bound


@pytest.mark.parametrize("name", [*SERVICES, "gateway", "migrate", "smtp-sink"])
def test_the_shop_runs_on_a_read_only_root_filesystem(name):
    service = compose()["services"][name]
    assert service["read_only"] is True
    assert "/tmp" in service["tmpfs"]


def literal_secrets(doc: Compose) -> list[tuple[Any, ...]]:
    """Where the file itself holds a secret rather than a required ``${NAME:?...}``: a setting
    named for one, a URL's password, Redis' ``--requirepass``."""
    found = []
    for name, service in doc["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) and not REQUIRED.fullmatch(str(value or "")):
                found.append((name, key, value))
        command = service.get("command") or []
        for flag, value in zip(command, command[1:], strict=False):
            if flag == "--requirepass" and not REQUIRED.fullmatch(value):
                found.append((name, flag, value))
    for path, value in strings(doc):
        for password in re.findall(r"://[^:/@\s]*:([^@\s]*)@", value):
            if not REQUIRED.fullmatch(password):
                found.append((*path, password))
    return found


def test_no_secret_is_written_in_the_file():
    assert literal_secrets(compose()) == []
    text = (ROOT / "docker-compose.yaml").read_text()
    for known in (*PUBLISHED_SECRETS, "guest"):
        assert known not in text


def test_a_written_secret_is_caught():
    doc = compose()
    doc["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] = "admin"
    doc["services"]["gateway"]["environment"]["AMQP_URI"] = "amqp://guest:guest@rabbitmq:5672/"
    doc["services"]["redis"]["command"][-1] = "${REDIS_PASSWORD:-redis}"
    assert set(literal_secrets(doc)) == {
        ("redis", "--requirepass", "${REDIS_PASSWORD:-redis}"),
        ("grafana", "GF_SECURITY_ADMIN_PASSWORD", "admin"),
        ("services", "gateway", "environment", "AMQP_URI", "guest"),
    }


def test_every_secret_is_required_and_has_no_default():
    required = required_variables()
    # exactly what `make secrets` writes (deploy/secrets.py compose)
    assert required == set(secrets())
    text = "\n".join(value for _, value in strings(compose()))  # comments left out
    for name, form in re.findall(r"\$\{(\w+)([^}]*)\}", text):
        if name in required or SECRET_NAME.search(name):
            assert form.startswith(":?"), f"${{{name}{form}}}: a secret has no default"


@pytest.mark.parametrize("missing", sorted(generated("compose")))
def test_compose_refuses_to_start_without_each_secret(missing):
    for unset in ({}, {missing: ""}):
        env = {**{k: v for k, v in secrets().items() if k != missing}, **unset}
        with pytest.raises(Refused, match=f"^{missing}$"):
            for _, value in strings(compose()):
                interpolate(value, env)


def test_each_program_logs_in_to_the_broker_as_its_own_user():
    services = compose()["services"]
    assert set(broker.PRINCIPALS) == set(APPS)
    for name in APPS:
        password = secrets()[f"{name.upper()}_AMQP_PASSWORD"]
        assert environment(services[name])["AMQP_URI"] == (
            f"amqp://{broker.username(name)}:{password}@rabbitmq:5672/"
        )


def test_migrate_logs_in_as_the_operator_and_makes_each_broker_user():
    services = compose()["services"]
    migrate = environment(services["migrate"])
    rabbitmq = environment(services["rabbitmq"])
    operator = f"{rabbitmq['RABBITMQ_DEFAULT_USER']}:{rabbitmq['RABBITMQ_DEFAULT_PASS']}"
    assert migrate["AMQP_URI"] == f"amqp://{operator}@rabbitmq:5672/"
    assert rabbitmq["RABBITMQ_DEFAULT_USER"] not in map(broker.username, broker.PRINCIPALS)
    # the passwords the services log in with, one for each user it makes
    given = {key: value for key, value in migrate.items() if key.endswith("_AMQP_PASSWORD")}
    assert given == {
        f"{name.upper()}_AMQP_PASSWORD": secrets()[f"{name.upper()}_AMQP_PASSWORD"]
        for name in broker.PRINCIPALS
    }
    # the image's command runs both steps (test_images.py)
    assert "command" not in services["migrate"]


def test_only_the_broker_and_migrate_hold_the_operators_password():
    password = secrets()["RABBITMQ_PASSWORD"]
    holders = {
        name
        for name, service in compose()["services"].items()
        if any(password in interpolate(value) for _, value in strings(service))
    }
    assert holders == {"rabbitmq", "migrate"}


def test_redis_asks_for_its_password_and_its_clients_give_it():
    services = compose()["services"]
    password = secrets()["REDIS_PASSWORD"]
    command = [interpolate(word) for word in services["redis"]["command"]]
    assert command[command.index("--requirepass") + 1] == password
    assert environment(services["redis"])["REDISCLI_AUTH"] == password  # the health check's
    assert "grep -q PONG" in services["redis"]["healthcheck"]["test"][-1]
    for name in ("products", "gateway"):
        assert environment(services[name])["REDIS_URL"] == f"redis://:{password}@redis:6379/0"


def mounts(service: Compose) -> dict[str, str]:
    """Container path -> host path (relative to the repository) of a service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = source.removeprefix("./")
    return found


def test_prometheus_scrapes_every_service_and_the_gateway_by_name():
    services = compose()["services"]
    config_path = mounts(services["prometheus"])["/etc/prometheus/prometheus.yml"]
    assert config_path == "deploy/prometheus/prometheus-compose.yml"
    scrape = yaml.safe_load((ROOT / config_path).read_text())
    targets = {
        f"{name}:{sd['port']}"
        for job in scrape["scrape_configs"]
        for sd in job["dns_sd_configs"]
        for name in sd["names"]
    }
    expected = {f"{name}:{environment(services[name])['OPS_PORT']}" for name in SERVICES}
    expected.add(f"gateway:{gateway_ops_port()}")  # its /metrics is not on the API's port
    assert targets == expected


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard():
    services = compose()["services"]
    grafana = mounts(services["grafana"])
    provisioning = ROOT / grafana["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    prometheus_port = interpolate(services["prometheus"]["ports"][0]).split(":")[-1]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["url"] == f"http://prometheus:{prometheus_port}"

    providers = yaml.safe_load((provisioning / "dashboards" / "shop.yml").read_text())
    (provider,) = providers["providers"]
    folder = provider["options"]["path"].rstrip("/")
    shown = [host for target, host in grafana.items() if target.rsplit("/", 1)[0] == folder]
    assert shown == ["deploy/grafana/shop-overview.json"]
    dashboard = json.loads((ROOT / shown[0]).read_text())
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == source["type"]  # the dashboard picks the provisioned source


def test_the_servers_images_can_be_replaced_where_the_official_ones_cannot_be_pulled():
    services = compose()["services"]
    built = {name for name, service in services.items() if "build" in service}
    for name, service in services.items():
        if name in built:
            assert service["image"].startswith("shop/"), name
            continue
        match = re.fullmatch(r"\$\{([A-Z]+_IMAGE):-([^}]+)\}", service["image"])
        assert match, f"{name}: {service['image']} cannot be replaced by a variable"
        assert match.group(1) == f"{name.upper()}_IMAGE"
