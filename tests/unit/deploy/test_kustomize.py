"""The small kustomize the Kubernetes tests render overlays with does what kustomize does."""

import textwrap

import pytest
import yaml

from tests.unit.deploy.kustomize import KustomizeError, merge, render, split_image

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


def by_kind(objects, kind):
    (found,) = [obj for obj in objects if obj["kind"] == kind]
    return found


def test_a_base_gets_its_namespace_and_cluster_objects_keep_none(tree):
    objects = render(tree / "base")
    assert by_kind(objects, "Deployment")["metadata"]["namespace"] == "shop"
    assert by_kind(objects, "Namespace")["metadata"] == {"name": "shop"}


def test_an_overlay_patches_by_kind_and_name_merging_containers_and_env(tree):
    write(
        tree,
        {
            "overlay/kustomization.yaml": """
                resources: [../base]
                patches: [{path: patch.yaml}]
            """,
            "overlay/patch.yaml": """
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
            """,
        },
    )
    deployment = by_kind(render(tree / "overlay"), "Deployment")
    assert deployment["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert deployment["metadata"]["name"] == "web"
    assert deployment["spec"]["replicas"] == 1
    web, sidecar = deployment["spec"]["template"]["spec"]["containers"]
    assert web["image"] == "shop/web:1" and sidecar["name"] == "sidecar"
    assert web["args"] == ["--c"]  # a list without a merge key is replaced
    assert web["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert web["resources"] == {"limits": {"cpu": "1"}}  # null deletes


def test_an_inline_patch_applies_to_every_target_its_name_pattern_matches(tree):
    other = {**DEPLOYMENT, "metadata": {"name": "api"}}
    write(tree, {"base/web.yaml": [DEPLOYMENT, other]})
    write(
        tree,
        {
            "overlay/kustomization.yaml": """
                resources: [../base]
                patches:
                  - target: {kind: Deployment, name: "w.*"}
                    patch: |
                      kind: Deployment
                      metadata: {name: ignored}
                      spec: {replicas: 5}
            """
        },
    )
    replicas = {
        obj["metadata"]["name"]: obj["spec"]["replicas"]
        for obj in render(tree / "overlay")
        if obj["kind"] == "Deployment"
    }
    assert replicas == {"web": 5, "api": 2}


def test_a_json_patch_replaces_adds_and_removes_at_its_paths(tree):
    write(
        tree,
        {
            "overlay/kustomization.yaml": """
                resources: [../base]
                patches:
                  - target: {kind: Deployment}
                    patch: |
                      - {op: replace, path: /spec/template/spec/containers/0/resources, value: {}}
                      - {op: add, path: /spec/template/spec/containers/0/args/-, value: --c}
                      - {op: remove, path: /metadata/labels/app}
                      - {op: add, path: /metadata/annotations, value: {a~1b: "1"}}
            """
        },
    )
    deployment = by_kind(render(tree / "overlay"), "Deployment")
    web = deployment["spec"]["template"]["spec"]["containers"][0]
    assert web["resources"] == {} and web["args"] == ["--a", "--b", "--c"]
    assert deployment["metadata"]["labels"] == {}
    assert deployment["metadata"]["annotations"] == {"a~1b": "1"}
    assert DEPLOYMENT["metadata"]["labels"] == {"app": "web"}  # the input is left alone


def test_images_get_new_names_and_tags_but_a_registry_port_is_no_tag(tree):
    write(
        tree,
        {
            "overlay/kustomization.yaml": """
                resources: [../base]
                images:
                  - {name: shop/web, newTag: "2.0"}
                  - {name: registry:5000/tools/sidecar, newName: tools/sidecar, newTag: v3}
            """
        },
    )
    deployment = by_kind(render(tree / "overlay"), "Deployment")
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == ["shop/web:2.0", "tools/sidecar:v3"]
    assert split_image("registry:5000/tools/sidecar") == ("registry:5000/tools/sidecar", "", "")


@pytest.mark.parametrize(
    ("kustomization", "extra", "error"),
    [
        ("resources: [../base]\ncommonLabels: {a: b}", {}, "unsupported kustomization fields"),
        ("resources: [../base, ../base]", {}, "defined twice"),
        (
            "resources: [../base]\npatches: [{path: p.yaml}]",
            {"overlay/p.yaml": "kind: Deployment\nmetadata: {name: nope}\n"},
            "no object for the patch",
        ),
        (
            "resources: [../base]\npatches: [{path: p.yaml}]",
            {"overlay/p.yaml": "kind: Deployment\nmetadata: {name: web}\n$patch: delete\n"},
            "directives are not supported",
        ),
        (
            "resources: [../base]\npatches: [{path: p.yaml, target: {labelSelector: a=b}}]",
            {"overlay/p.yaml": "kind: Deployment\nmetadata: {name: web}\n"},
            "unsupported patch target fields",
        ),
        (
            "resources: [../base]\npatches: [{path: p.yaml}]",
            {"overlay/p.yaml": "kind: Deployment\nmetadata: {name: web}\n---\nkind: Namespace\n"},
            "a patch holds one document, not 2",
        ),
        (
            "resources: [../base]\npatches: [{patch: '[{op: remove, path: /spec}]'}]",
            {},
            "a JSON patch needs a target",
        ),
        (
            "resources: [../base]\n"
            "patches: [{target: {kind: Deployment}, patch: '[{op: replace, path: /x, value: 1}]'}]",
            {},
            "/x does not exist",
        ),
    ],
    ids=[
        "unknown field",
        "duplicate",
        "patch without object",
        "directive",
        "label selector",
        "two patches in a file",
        "json patch without target",
        "replace of nothing",
    ],
)
def test_what_it_cannot_render_faithfully_is_refused(tree, kustomization, extra, error):
    write(tree, {"overlay/kustomization.yaml": kustomization, **extra})
    with pytest.raises(KustomizeError, match=error):
        render(tree / "overlay")


def test_merging_leaves_both_sides_unchanged():
    original = {"a": {"b": [1]}, "env": [{"name": "X", "value": "1"}]}
    patch = {"a": {"b": [2]}, "env": [{"name": "X", "value": "2"}]}
    assert merge(original, patch) == patch
    assert original == {"a": {"b": [1]}, "env": [{"name": "X", "value": "1"}]}
    assert patch == {"a": {"b": [2]}, "env": [{"name": "X", "value": "2"}]}
