"""The Kubernetes overlays render, validate against Kubernetes' own schemas, and keep the rules
of running the shop there: probes, resources, an unprivileged read-only container, time to
stop, replicas, budgets, one way in, only settings the programs read, no secret of their own,
and a broker user of its own for each program."""

import copy
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from chassis import broker
from chassis.nodes import nodes
from gateway.config import PUBLISHED_SECRETS
from tests.conftest import ROOT
from tests.unit.deploy.envfiles import generated
from tests.unit.deploy.images import dockerfile
from tests.unit.deploy.manifests import (
    APPS,
    KUBERNETES,
    OPERATOR_SECRETS,
    OVERLAYS,
    SERVICES,
    SHOP_SECRETS,
    config_map_keys,
    containers,
    environment,
    named,
    objects,
    pod_spec,
    program,
    reads,
    workloads,
)

KUBERNETES_VERSION = "1.30.0"
# Fields of the RabbitmqCluster custom resource (rabbitmq.com/v1beta1), which no schema here
# describes: its spec may use these only.
RABBITMQ_SPEC = {
    "replicas", "image", "imagePullSecrets", "service", "persistence", "resources", "affinity",
    "tolerations", "rabbitmq", "tls", "override", "skipPostDeploySteps",
    "terminationGracePeriodSeconds", "delayStartSeconds", "secretBackend",
    "autoEnableAllFeatureFlags",
}  # fmt: skip
QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?$")
UNITS = {None: 1, "m": 0.001, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}

overlays = pytest.mark.parametrize("overlay", OVERLAYS)


def quantity(value) -> float:
    match = QUANTITY.match(str(value))
    assert match, value
    return float(match[1]) * UNITS[match[2]]


@overlays
def test_every_object_validates_against_the_kubernetes_schemas(overlay):
    for obj in objects(overlay):
        if obj["kind"] == "RabbitmqCluster":
            continue  # a custom resource: checked below
        # strict: a misspelt or misplaced field is an error, not silently dropped
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        assert obj["metadata"].get("namespace", "shop") == "shop"


@overlays
def test_the_rabbitmq_cluster_is_a_well_formed_custom_resource(overlay):
    (cluster,) = objects(overlay, "RabbitmqCluster")
    assert cluster["apiVersion"] == "rabbitmq.com/v1beta1"
    assert (cluster["metadata"]["name"], cluster["metadata"]["namespace"]) == ("rabbitmq", "shop")
    spec = cluster["spec"]
    assert set(spec) <= RABBITMQ_SPEC, set(spec) - RABBITMQ_SPEC
    assert isinstance(spec["replicas"], int) and spec["replicas"] % 2 == 1  # a majority exists
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(spec["resources"][kind])
    quantity(spec["persistence"]["storage"])
    assert isinstance(spec["rabbitmq"]["additionalConfig"], str)


def test_production_runs_quorum_queues_on_three_rabbitmq_nodes_and_dev_classic_on_one():
    assert named("production", "RabbitmqCluster", "rabbitmq")["spec"]["replicas"] == 3
    assert named("production", "ConfigMap", "shop-config")["data"]["QUEUE_TYPE"] == "quorum"
    assert named("dev", "ConfigMap", "shop-config")["data"]["QUEUE_TYPE"] == "classic"
    assert named("dev", "RabbitmqCluster", "rabbitmq")["spec"]["replicas"] == 1


def test_in_production_the_programs_fail_over_to_named_nodes_in_orders_of_their_own():
    cluster = named("production", "RabbitmqCluster", "rabbitmq")
    firsts = set()
    for name in APPS:
        (container,) = containers(named("production", "Deployment", name))
        (uri,) = [e["value"] for e in container["env"] if e["name"] == "AMQP_URI"]
        # The pods of the operator's StatefulSet <name>-server-<n>, under its Service <name>-nodes
        listed = [re.search(r"@([^:/]+)", node)[1] for node in nodes(uri)[1:]]
        assert sorted(listed) == [
            f"{cluster['metadata']['name']}-server-{n}.{cluster['metadata']['name']}-nodes"
            for n in range(cluster["spec"]["replicas"])
        ]
        firsts.add(listed[0])
        assert " " not in uri  # kombu splits the value on ";" as it is
    assert len(firsts) == 3  # the programs' first named nodes differ
    # Quorum queues' leaders spread over the nodes.
    assert "queue_leader_locator = balanced" in cluster["spec"]["rabbitmq"]["additionalConfig"]


@overlays
def test_each_app_and_its_migration_runs_its_own_image(overlay):
    deployments = {d["metadata"]["name"]: d for d in objects(overlay, "Deployment")}
    assert set(deployments) == set(APPS)
    tag = "dev" if overlay == "dev" else "0.1.0"
    for name, deployment in deployments.items():
        assert [c["image"] for c in containers(deployment)] == [f"shop/{name}:{tag}"]
    jobs = {job["metadata"]["name"]: job for job in objects(overlay, "Job")}
    assert set(jobs) == {f"migrate-{name}" for name in SERVICES} | {"broker-setup"}
    for name in SERVICES:
        (migrate,) = containers(jobs[f"migrate-{name}"])
        assert migrate["image"] == f"shop/{name}:{tag}"
        assert migrate["command"] == ["python", "-m", "chassis.migrate", name]
    # every service's queues are declared from its code: the image holding all of them
    (setup,) = containers(jobs["broker-setup"])
    assert setup["image"] == f"shop/migrate:{tag}"
    assert setup["command"] == ["python", "-m", "chassis.broker", "setup"]


@overlays
def test_the_images_are_the_ones_the_dockerfile_builds(overlay):
    image = dockerfile()
    used = {
        container["image"].split(":")[0]
        for workload in workloads(overlay, "Deployment", "Job")
        for container in containers(workload)
    }
    assert used == {f"shop/{target}" for target in (*APPS, "migrate")}
    assert all(name.removeprefix("shop/") in image.stages for name in used)
    # each one gets the overlay's tag (and registry)
    kustomization = yaml.safe_load(
        (KUBERNETES / "overlays" / overlay / "kustomization.yaml").read_text()
    )
    assert {entry["name"] for entry in kustomization["images"]} == used
    # the user the pods' securityContext names (runAsUser) is the one the images run as
    for name in used:
        assert image.effective(name.removeprefix("shop/"), "USER").args in ("10001", "10001:10001")
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    for service in compose.get("services", {}).values():
        target = (service.get("build") or {}).get("target")
        if f"shop/{target}" in used and "image" in service:
            assert service["image"].split(":")[0] == f"shop/{target}"


# What each probe asks: readiness, then liveness (the start-up probe asks liveness), and where.
# Not the gateway's /health/ready for its readiness: it asks every service, so one service down
# would take every gateway pod out of its Service.
PROBES = {
    "gateway": ("/health/live", "/health/live", 9100),
    "service": ("/health/ready", "/health/live", 9100),
}


@overlays
def test_every_deployment_is_probed_on_a_port_it_exposes(overlay):
    for deployment in objects(overlay, "Deployment"):
        (container,) = containers(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        kind = "gateway" if deployment["metadata"]["name"] == "gateway" else "service"
        ready, live, port = PROBES[kind]
        paths = {"readinessProbe": ready, "livenessProbe": live, "startupProbe": live}
        for probe, path in paths.items():
            check = container[probe]["httpGet"]
            assert check["path"] == path, (deployment["metadata"]["name"], probe)
            assert ports.get(check["port"], check["port"]) == port, probe


@overlays
def test_the_gateway_is_probed_and_scraped_on_its_ops_port(overlay):
    deployment = named(overlay, "Deployment", "gateway")
    (container,) = containers(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = named(overlay, "ConfigMap", "gateway-config")["data"]
    assert ports == {"http": int(config["GATEWAY_PORT"]), "ops": int(config["GATEWAY_OPS_PORT"])}
    assert config["GATEWAY_OPS_HOST"] == "0.0.0.0"  # the kubelet and Prometheus reach the pod's IP
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check = container[probe]["httpGet"]
        assert (check["path"], check["port"]) == ("/health/live", "ops"), probe


@overlays
def test_every_deployment_is_scraped_on_its_ops_port(overlay):
    for deployment in objects(overlay, "Deployment"):
        (container,) = containers(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert int(annotations["prometheus.io/port"]) == ports["ops"], deployment["metadata"]


@overlays
def test_every_container_requests_and_is_limited_in_cpu_and_memory(overlay):
    for workload in workloads(overlay, "Deployment", "StatefulSet", "Job"):
        for container in containers(workload):
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request = quantity(resources["requests"][resource])
                limit = quantity(resources["limits"][resource])
                assert 0 < request <= limit, (workload["metadata"]["name"], resource)


def test_production_memory_requests_equal_limits():
    for deployment in objects("production", "Deployment"):
        (container,) = containers(deployment)
        resources = container["resources"]
        assert resources["requests"]["memory"] == resources["limits"]["memory"]


@overlays
def test_every_pod_runs_unprivileged_on_a_read_only_root(overlay):
    for workload in workloads(overlay, "Deployment", "StatefulSet", "Job"):
        spec = pod_spec(workload)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        shop = workload["kind"] != "StatefulSet"
        if shop:
            assert pod["runAsUser"] == 10001  # the images' user
        scratch = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1 and tmp[0]["name"] in scratch, workload["metadata"]["name"]


@overlays
def test_pods_have_longer_to_stop_than_the_programs_take(overlay):
    shutdown = int(named(overlay, "ConfigMap", "shop-config")["data"]["SHUTDOWN_TIMEOUT"])
    gateway_config = named(overlay, "ConfigMap", "gateway-config")["data"]
    graceful = int(gateway_config["GATEWAY_GRACEFUL_TIMEOUT"])
    for deployment in objects(overlay, "Deployment"):
        spec = pod_spec(deployment)
        (container,) = containers(deployment)
        pause = 0
        if "lifecycle" in container:
            command = container["lifecycle"]["preStop"]["exec"]["command"]
            assert command[0] == "sleep"
            pause = int(command[1])
        bound = graceful if deployment["metadata"]["name"] == "gateway" else shutdown
        assert spec["terminationGracePeriodSeconds"] > pause + bound, deployment["metadata"]


@overlays
def test_the_gateway_orders_and_products_autoscale_and_nothing_fights_them(overlay):
    autoscalers = {
        hpa["metadata"]["name"]: hpa for hpa in objects(overlay, "HorizontalPodAutoscaler")
    }
    assert set(autoscalers) == {"gateway", "orders", "products"}
    for name, hpa in autoscalers.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"], target["name"]) == (
            "apps/v1",
            "Deployment",
            name,
        )
        deployment = named(overlay, "Deployment", name)
        # a replica count in the Deployment would undo the autoscaler's at every apply
        assert "replicas" not in deployment["spec"]
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"


def replica_range(overlay: str, name: str) -> tuple[int, int]:
    for hpa in objects(overlay, "HorizontalPodAutoscaler"):
        if hpa["metadata"]["name"] == name:
            return hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    replicas = named(overlay, "Deployment", name)["spec"]["replicas"]
    return replicas, replicas


def test_dev_runs_one_replica_of_each_and_production_three_or_more():
    for name in APPS:
        assert replica_range("dev", name) == (1, 1), name
        low, high = replica_range("production", name)
        assert low >= 3 and high >= low, name
        assert low > replica_range("dev", name)[0]


@overlays
def test_every_deployment_has_a_disruption_budget_for_its_pods(overlay):
    budgets = objects(overlay, "PodDisruptionBudget")
    for deployment in objects(overlay, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(covering) == 1, deployment["metadata"]["name"]
        # one at a time: a drain is never blocked for ever, even with a single replica
        assert covering[0]["spec"] == {**covering[0]["spec"], "maxUnavailable": 1}


@overlays
def test_only_the_gateway_is_reachable_from_outside(overlay):
    (ingress,) = objects(overlay, "Ingress")
    backends = {
        (path["backend"]["service"]["name"], path["backend"]["service"]["port"]["name"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {("gateway", "http")}
    # the API only: neither readiness nor metrics through the Service, hence the Ingress
    service = named(overlay, "Service", "gateway")
    assert [(port["name"], port["targetPort"]) for port in service["spec"]["ports"]] == [
        ("http", "http")
    ]
    for service in objects(overlay, "Service"):
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]


def test_production_serves_tls_on_its_own_host():
    (ingress,) = objects("production", "Ingress")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts == {"shop.example.com"}
    assert ingress["spec"]["tls"] == [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}]


@overlays
def test_every_service_selects_pods_that_expose_its_target_port(overlay):
    pods = [
        (w["spec"]["template"]["metadata"]["labels"], w)
        for w in workloads(overlay, "Deployment", "StatefulSet")
    ]
    for service in objects(overlay, "Service"):
        selected = [
            w for labels, w in pods if service["spec"]["selector"].items() <= labels.items()
        ]
        assert len(selected) == 1, service["metadata"]["name"]
        exposed = {p["name"] for c in containers(selected[0]) for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in exposed
    services = {s["metadata"]["name"]: s for s in objects(overlay, "Service")}
    ops_urls = named(overlay, "ConfigMap", "gateway-config")["data"]["SERVICE_OPS_URLS"]
    for entry in ops_urls.split(","):
        name, url = entry.split("=")
        assert url == f"http://{name}:9100" and services[name]["spec"]["ports"][0]["port"] == 9100
    assert sorted(entry.split("=")[0] for entry in ops_urls.split(",")) == sorted(SERVICES)


@overlays
def test_every_setting_given_to_a_program_is_one_it_reads(overlay):
    for workload in workloads(overlay, "Deployment", "Job"):
        for container in containers(workload):
            name = program(container)
            assert name is not None
            variables = environment(overlay, container)
            defined: set[str] = set()
            composed: set[str] = set()
            for variable, value in variables:
                for reference in re.findall(r"\$\(([A-Z0-9_]+)\)", value or ""):
                    # Kubernetes expands only what is defined before: a typo stays literal
                    assert reference in defined, (workload["metadata"]["name"], reference)
                    composed.add(reference)
                defined.add(variable)
            unread = {v for v, _ in variables} - reads(name) - composed
            assert not unread, (workload["metadata"]["name"], unread)


@overlays
def test_every_reference_to_a_config_map_or_secret_finds_its_key(overlay):
    config_maps = {c["metadata"]["name"]: set(c["data"]) for c in objects(overlay, "ConfigMap")}
    # made once with deploy/secrets.py, or by a secret manager; and the RabbitMQ operator's
    secrets = {SHOP_SECRETS: secret_template_keys(), **OPERATOR_SECRETS}
    for workload in workloads(overlay, "Deployment", "StatefulSet", "Job"):
        for container in containers(workload):
            for entry in container.get("env", []):
                source = entry.get("valueFrom", {})
                for kind, known in (("secretKeyRef", secrets), ("configMapKeyRef", config_maps)):
                    if kind in source:
                        ref = source[kind]
                        assert ref["key"] in known.get(ref["name"], set()), (kind, ref)
        for volume in pod_spec(workload).get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps


def secret_template_keys() -> set[str]:
    text = (KUBERNETES / "overlays" / "production" / "secrets.env.example").read_text()
    return {line.split("=")[0] for line in text.splitlines() if line and not line.startswith("#")}


def secret_references(container: dict[str, Any]) -> dict[str, set[str]]:
    """Secret name -> the keys of it a container is given."""
    found: dict[str, set[str]] = {}
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            found.setdefault(ref["name"], set()).add(ref["key"])
    return found


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


def literal_secrets(rendered: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Secret values the rendered manifests hold themselves: a Secret, a setting named for a
    secret given a value, a URL's password or Redis' ``--requirepass`` other than a ``$(VAR)``
    taken from a Secret, a secret this repository once published."""
    found = [(obj["metadata"]["name"], "Secret") for obj in rendered if obj["kind"] == "Secret"]
    for workload in rendered:
        if workload["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        for container in containers(workload):
            env = container.get("env", [])
            from_secrets = {e["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}
            found += [
                (workload["metadata"]["name"], entry["name"])
                for entry in env
                if re.search(r"SECRET|PASSWORD|TOKEN", entry["name"]) and "value" in entry
            ]
            args = container.get("args", [])
            passwords = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--requirepass"]
            for value in strings(container):
                passwords += re.findall(r"://[^:/@\s]*:([^@\s]*)@", value)
            for password in passwords:
                reference = re.fullmatch(r"\$\(([A-Z0-9_]+)\)", password)
                if not reference or reference[1] not in from_secrets:
                    found.append((workload["metadata"]["name"], password))
    text = yaml.safe_dump_all(rendered)
    found += [("published", known) for known in sorted(PUBLISHED_SECRETS) if known in text]
    return found


@overlays
def test_no_overlay_holds_a_secret_value(overlay):
    assert literal_secrets(objects(overlay)) == []


def test_a_secret_value_in_a_manifest_is_caught():
    rendered = copy.deepcopy(objects("dev"))  # the rendering is cached: leave it as it is
    (container,) = [
        container
        for obj in rendered
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "gateway"
        for container in containers(obj)
    ]
    container["env"] = [
        {"name": "JWT_SECRET", "value": "dev-only-jwt-secret-replace-me-0123456789abcdef"},
        {"name": "AMQP_URI", "value": "amqp://guest:guest@rabbitmq:5672/"},
    ]
    rendered.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SHOP_SECRETS}})
    assert literal_secrets(rendered) == [
        (SHOP_SECRETS, "Secret"),
        ("gateway", "JWT_SECRET"),
        ("gateway", "guest"),
        ("published", "dev-only-jwt-secret-replace-me-0123456789abcdef"),
    ]


def test_the_secret_the_overlays_expect_is_the_one_deploy_secrets_makes():
    keys = secret_template_keys()
    assert keys == set(generated("kubernetes"))
    for overlay in OVERLAYS:
        referenced = set().union(
            *(
                secret_references(container).get(SHOP_SECRETS, set())
                for workload in workloads(overlay, "Deployment", "StatefulSet", "Job")
                for container in containers(workload)
            )
        )
        assert referenced == keys, overlay  # every key is used, none is missing


@overlays
def test_each_program_logs_in_to_the_broker_as_its_own_user(overlay):
    assert set(broker.PRINCIPALS) == set(APPS)
    for name in APPS:
        (container,) = containers(named(overlay, "Deployment", name))
        env = {entry["name"]: entry for entry in container["env"]}
        variable = f"{name.upper()}_AMQP_PASSWORD"
        # The broker's Service; in production, then each node to fail over to (chassis.nodes).
        user = f"amqp://{broker.username(name)}:$({variable})@"
        hosts = [node.removeprefix(user) for node in nodes(env["AMQP_URI"]["value"])]
        assert all(node.startswith(user) for node in nodes(env["AMQP_URI"]["value"]))
        assert hosts[0] == "$(AMQP_HOST):5672/"
        if overlay == "production":
            assert sorted(hosts[1:]) == [
                f"rabbitmq-server-{n}.rabbitmq-nodes:5672/" for n in range(3)
            ]
        else:
            assert hosts == ["$(AMQP_HOST):5672/"]
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": SHOP_SECRETS, "key": variable}
        # no other program's broker password
        amqp = {
            k for k in secret_references(container)[SHOP_SECRETS] if k.endswith("_AMQP_PASSWORD")
        }
        assert amqp == {variable}


@overlays
def test_only_the_broker_setup_job_gets_the_brokers_administrator(overlay):
    holders = {
        workload["metadata"]["name"]
        for workload in workloads(overlay, "Deployment", "StatefulSet", "Job")
        for container in containers(workload)
        if set(secret_references(container)) & set(OPERATOR_SECRETS)
    }
    assert holders == {"broker-setup"}


@overlays
def test_the_broker_setup_job_makes_every_user_as_the_administrator(overlay):
    job = named(overlay, "Job", "broker-setup")
    (container,) = containers(job)
    env = {entry["name"]: entry for entry in container["env"]}
    references = secret_references(container)
    assert references["rabbitmq-default-user"] == {"username", "password"}
    # every user's password, and nothing else of shop-secrets (no database's, no JWT secret)
    assert references[SHOP_SECRETS] == {f"{p.upper()}_AMQP_PASSWORD" for p in broker.PRINCIPALS}
    assert env["AMQP_URI"]["value"] == "amqp://$(AMQP_USERNAME):$(AMQP_PASSWORD)@$(AMQP_HOST):5672/"
    # it declares the queues with the type the services declare theirs with
    assert env["QUEUE_TYPE"]["valueFrom"]["configMapKeyRef"] == {
        "name": "shop-config",
        "key": "QUEUE_TYPE",
    }
    for name in SERVICES:
        (service,) = containers(named(overlay, "Deployment", name))
        assert {"configMapRef": {"name": "shop-config"}} in service["envFrom"]
    assert "QUEUE_TYPE" in config_map_keys(overlay, "shop-config")
    assert job["spec"]["backoffLimit"] >= 1  # RabbitMQ may not answer yet


def test_app_env_is_gone():
    for overlay in OVERLAYS:
        for config_map in objects(overlay, "ConfigMap"):
            assert "APP_ENV" not in config_map.get("data", {})


@overlays
def test_each_program_holds_only_its_own_secrets(overlay):
    expected = {
        name: {f"{name.upper()}_DB_PASSWORD", f"{name.upper()}_AMQP_PASSWORD"} for name in SERVICES
    }
    expected["products"].add("REDIS_PASSWORD")
    expected["gateway"] = {"GATEWAY_AMQP_PASSWORD", "REDIS_PASSWORD", "JWT_SECRET"}
    for name, keys in expected.items():
        (container,) = containers(named(overlay, "Deployment", name))
        assert secret_references(container) == {SHOP_SECRETS: keys}, name


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_and_its_migration_hold_only_their_own_database_password(service):
    for workload in (
        named("dev", "Deployment", service),
        named("dev", "Job", f"migrate-{service}"),
    ):
        (container,) = containers(workload)
        references = [e.get("valueFrom", {}).get("secretKeyRef", {}) for e in container["env"]]
        database = {
            ref["key"]
            for ref in references
            if ref.get("name") == "shop-secrets" and ref["key"].endswith("_DB_PASSWORD")
        }
        assert database == {f"{service.upper()}_DB_PASSWORD"}
