"""The kubectl the Kubernetes tests render overlays with does what the overlays rely on, and
what it refuses to render fails the tests with its own message."""

import textwrap

import pytest
import yaml

from tests.unit.deploy.manifests import KustomizeError, render

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "shop/web:1",
                        "args": ["--a", "--b"],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    },
                    {"name": "sidecar", "image": "registry:5000/tools/sidecar"},
                ]
            }
        },
    },
}


def write(folder, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(textwrap.dedent(content))
        else:
            path.write_text(yaml.safe_dump_all(content))


@pytest.fixture
def tree(tmp_path):
    write(
        tmp_path,
        {
            "base/kustomization.yaml": """
                namespace: shop
                resources: [namespace.yaml, web.yaml]
            """,
            "base/namespace.yaml": [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
            ],
            "base/web.yaml": [DEPLOYMENT],
        },
    )
    return tmp_path


def render_overlay(tree, kustomization: str, files: dict | None = None) -> list:
    """``tree/overlay`` rendered: a kustomization built on ``../base``, beside ``files``."""
    kustomization = "resources: [../base]\n" + textwrap.dedent(kustomization)
    overlay = {f"overlay/{name}": content for name, content in (files or {}).items()}
    write(tree, {"overlay/kustomization.yaml": kustomization, **overlay})
    return render(tree / "overlay")


def add_api(tree, labels: dict | None = None) -> None:
    """A second Deployment in the base: ``api``, beside ``web``."""
    metadata = {"name": "api", **({"labels": labels} if labels else {})}
    write(tree, {"base/web.yaml": [DEPLOYMENT, {**DEPLOYMENT, "metadata": metadata}]})


def by_kind(objects, kind):
    (found,) = [obj for obj in objects if obj["kind"] == kind]
    return found


def test_a_base_gets_its_namespace_and_cluster_objects_keep_none(tree):
    objects = render(tree / "base")
    assert by_kind(objects, "Deployment")["metadata"]["namespace"] == "shop"
    assert by_kind(objects, "Namespace")["metadata"] == {"name": "shop"}


def test_an_overlay_patches_by_kind_and_name_merging_containers_and_env(tree):
    patched = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {tier: front}}
        spec:
          replicas: 1
          template:
            spec:
              containers:
                - name: web
                  args: [--c]
                  env: [{name: B, value: "3"}, {name: C, value: "4"}]
                  resources: {limits: {memory: null}}
    """
    objects = render_overlay(tree, "patches: [{path: patch.yaml}]", {"patch.yaml": patched})
    deployment = by_kind(objects, "Deployment")
    assert deployment["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert deployment["metadata"]["name"] == "web"
    assert deployment["spec"]["replicas"] == 1
    web, sidecar = deployment["spec"]["template"]["spec"]["containers"]
    assert web["image"] == "shop/web:1" and sidecar["name"] == "sidecar"
    assert web["args"] == ["--c"]  # a list without a merge key is replaced
    # merged by name; strategic merge puts the patch's items first
    assert sorted(web["env"], key=lambda entry: entry["name"]) == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert web["resources"] == {"limits": {"cpu": "1"}}  # null deletes


def test_an_inline_patch_applies_to_every_target_its_name_pattern_matches(tree):
    add_api(tree)
    kustomization = """
        patches:
          - target: {kind: Deployment, name: "w.*"}
            patch: |
              kind: Deployment
              metadata: {name: ignored}
              spec: {replicas: 5}
    """
    replicas = {
        obj["metadata"]["name"]: obj["spec"]["replicas"]
        for obj in render_overlay(tree, kustomization)
        if obj["kind"] == "Deployment"
    }
    assert replicas == {"web": 5, "api": 2}


def test_a_json_patch_replaces_adds_and_removes_at_its_paths(tree):
    kustomization = """
        patches:
          - target: {kind: Deployment}
            patch: |
              - {op: replace, path: /spec/template/spec/containers/0/resources, value: {}}
              - {op: add, path: /spec/template/spec/containers/0/args/-, value: --c}
              - {op: remove, path: /metadata/labels/app}
              - {op: add, path: /metadata/annotations, value: {a~1b: "1"}}
    """
    deployment = by_kind(render_overlay(tree, kustomization), "Deployment")
    web = deployment["spec"]["template"]["spec"]["containers"][0]
    assert web["resources"] == {} and web["args"] == ["--a", "--b", "--c"]
    assert deployment["metadata"]["labels"] == {}
    assert deployment["metadata"]["annotations"] == {"a~1b": "1"}
    assert DEPLOYMENT["metadata"]["labels"] == {"app": "web"}  # the input is left alone


def test_images_get_new_names_and_tags_but_a_registry_port_is_no_tag(tree):
    kustomization = """
        images:
          - {name: shop/web, newTag: "2.0"}
          - {name: registry:5000/tools/sidecar, newName: tools/sidecar, newTag: v3}
    """
    deployment = by_kind(render_overlay(tree, kustomization), "Deployment")
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == ["shop/web:2.0", "tools/sidecar:v3"]
    # only a new tag: the registry's port is kept, not taken for the tag
    kustomization = "images: [{name: registry:5000/tools/sidecar, newTag: v3}]"
    deployment = by_kind(render_overlay(tree, kustomization), "Deployment")
    sidecar = deployment["spec"]["template"]["spec"]["containers"][1]
    assert sidecar["image"] == "registry:5000/tools/sidecar:v3"


def patch(metadata: str, body: str = "") -> str:
    """A strategic merge patch of a Deployment."""
    return f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {metadata}\n{body}"


@pytest.mark.parametrize(
    ("kustomization", "extra", "error"),
    [
        ("resource: [../base]", {}, "unknown field"),
        ("resources: [../base, ../base]", {}, "already registered id"),
        (
            "resources: [../base]\npatches: [{path: p.yaml}]",
            {"overlay/p.yaml": patch("{name: nope}")},
            "no resource matches strategic merge patch",
        ),
        (
            "resources: [../base]\npatches: [{patch: '- {op: remove, path: /spec}'}]",
            {},
            "must specify a target for JSON patch",
        ),
        (
            "resources: [../base]\n"
            "patches:\n"
            "  - {target: {kind: Deployment}, patch: '- {op: replace, path: /x/y, value: 1}'}",
            {},
            "missing path: /x/y",
        ),
    ],
    ids=[
        "unknown field",
        "duplicate",
        "patch without object",
        "json patch without target",
        "replace of nothing",
    ],
)
def test_what_it_cannot_render_is_refused(tree, kustomization, extra, error):
    write(tree, {"overlay/kustomization.yaml": kustomization, **extra})
    with pytest.raises(KustomizeError, match=error):
        render(tree / "overlay")


def test_directives_label_selectors_and_several_patches_in_a_file_apply(tree):
    add_api(tree, labels={"tier": "back"})
    kustomization = """
        patches:
          - {path: replicas.yaml}
          - {path: selected.yaml, target: {labelSelector: tier=back}}
          - {path: delete.yaml}
    """
    files = {
        "replicas.yaml": patch("{name: web}", "spec: {replicas: 4}\n---\n")
        + patch("{name: api}", "spec: {replicas: 6}"),
        "selected.yaml": patch("{name: any, annotations: {x: y}}"),
        "delete.yaml": patch("{name: web}", "$patch: delete"),
    }
    (api,) = [
        obj for obj in render_overlay(tree, kustomization, files) if obj["kind"] == "Deployment"
    ]
    assert api["metadata"]["name"] == "api" and api["spec"]["replicas"] == 6
    assert api["metadata"]["annotations"] == {"x": "y"}


def test_rendering_an_overlay_leaves_its_base_unchanged(tree):
    kustomization = """
        patches:
          - target: {kind: Deployment}
            patch: "- {op: replace, path: /spec/replicas, value: 9}"
    """
    before = (tree / "base" / "web.yaml").read_text()
    assert by_kind(render_overlay(tree, kustomization), "Deployment")["spec"]["replicas"] == 9
    assert (tree / "base" / "web.yaml").read_text() == before
    assert by_kind(render(tree / "base"), "Deployment")["spec"]["replicas"] == 2
