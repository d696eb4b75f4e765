"""The Kubernetes overlays render, validate against Kubernetes' own schemas, and keep the rules
of running the shop there: probes, resources, an unprivileged read-only container, time to
stop, replicas, budgets, one way in, and only settings the programs read."""

import re

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT
from tests.unit.deploy.manifests import (
    APPS,
    KUBERNETES,
    OPERATOR_SECRETS,
    OVERLAYS,
    SERVICES,
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


@overlays
def test_each_app_and_its_migration_runs_its_own_image(overlay):
    deployments = {d["metadata"]["name"]: d for d in objects(overlay, "Deployment")}
    assert set(deployments) == set(APPS)
    tag = "dev" if overlay == "dev" else "0.1.0"
    for name, deployment in deployments.items():
        assert [c["image"] for c in containers(deployment)] == [f"shop/{name}:{tag}"]
    jobs = {job["metadata"]["name"]: job for job in objects(overlay, "Job")}
    assert set(jobs) == {f"migrate-{name}" for name in SERVICES}
    for name in SERVICES:
        (migrate,) = containers(jobs[f"migrate-{name}"])
        assert migrate["image"] == f"shop/{name}:{tag}"
        assert migrate["command"] == ["python", "-m", "chassis.migrate", name]


def test_the_images_are_the_ones_the_dockerfile_builds():
    dockerfile = ROOT / "deploy" / "docker" / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("no deploy/docker/Dockerfile to compare with")
    text = dockerfile.read_text()
    targets = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I))
    assert set(APPS) <= targets
    # the user the pods' securityContext names (runAsUser) is the one the images run as
    assert re.search(r"^USER\s+10001(:10001)?\s*$", text, re.M)
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    for service in compose.get("services", {}).values():
        target = (service.get("build") or {}).get("target")
        if target in APPS and "image" in service:
            assert service["image"].split(":")[0] == f"shop/{target}"


# What each probe asks: readiness, then liveness (the start-up probe asks liveness), and where.
PROBES = {
    "gateway": ("/health", "/health", 8000),
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
    service = named(overlay, "Service", "gateway")
    assert "http" in {port["name"] for port in service["spec"]["ports"]}
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
    secrets = {s["metadata"]["name"]: set(s["stringData"]) for s in objects(overlay, "Secret")}
    if overlay == "production":
        secrets["shop-secrets"] = secret_template_keys()  # made by hand or a secret manager
    secrets.update(OPERATOR_SECRETS)
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


def test_production_renders_no_secret_and_expects_the_keys_dev_sets():
    assert objects("production", "Secret") == []
    (dev_secret,) = objects("dev", "Secret")
    assert dev_secret["metadata"]["name"] == "shop-secrets"
    assert set(dev_secret["stringData"]) == secret_template_keys()


def test_production_gateway_refuses_the_development_jwt_secret():
    assert named("production", "ConfigMap", "gateway-config")["data"]["APP_ENV"] == "production"
    assert "APP_ENV" not in named("dev", "ConfigMap", "gateway-config")["data"]


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
