"""A small kustomize, limited to what deploy/kubernetes uses, to render overlays offline.

Supported in a kustomization: ``resources`` (files, and folders holding a kustomization),
``namespace``, ``images`` (``newName``, ``newTag``) and ``patches``: a strategic merge patch, from
a file or inline, applied to the object it names or to every object a ``target`` selects by kind
and name; or a JSON patch (``add``, ``replace``, ``remove``) for the objects a ``target``
selects. One patch per entry: kustomize before 5.2 refuses a file holding several. The
transformations run in kustomize's order: patches, namespace, images. Anything else is refused,
so that a manifest cannot come to rely on something this renderer would silently skip.

Strategic merge: maps merge key by key, ``null`` deletes a key, and the lists Kubernetes merges
by a key (containers, env, volumes...) merge item by item; any other list is replaced.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]

SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
# Lists that strategic merge patches merge item by item, and the key naming an item.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}


class KustomizeError(ValueError):
    pass


def render(folder: str | Path) -> list[Object]:
    """The objects ``kubectl kustomize <folder>`` would print, in the order they were listed."""
    folder = Path(folder)
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text()) or {}
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{folder}: unsupported kustomization fields {sorted(unknown)}")
    objects: list[Object] = []
    for entry in kustomization.get("resources", []):
        path = folder / entry
        objects += render(path) if path.is_dir() else load_documents(path)
    for patch in kustomization.get("patches", []):
        apply_patch(objects, patch, folder)
    if "namespace" in kustomization:
        set_namespace(objects, kustomization["namespace"])
    for image in kustomization.get("images", []):
        set_image(objects, image)
    check_unique(objects)
    return objects


def load_documents(path: Path) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def identity(obj: Object) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def check_unique(objects: list[Object]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        if identity(obj) in seen:
            raise KustomizeError(f"{identity(obj)} is defined twice")
        seen.add(identity(obj))


def apply_patch(objects: list[Object], patch: Object, folder: Path) -> None:
    if set(patch) - {"path", "patch", "target"}:
        raise KustomizeError(f"unsupported patch fields {sorted(set(patch))}")
    text = (folder / patch["path"]).read_text() if "path" in patch else patch["patch"]
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    if len(documents) != 1:
        raise KustomizeError(f"a patch holds one document, not {len(documents)}: {patch}")
    (document,) = documents
    if isinstance(document, list):
        if "target" not in patch:
            raise KustomizeError("a JSON patch needs a target")
        document = {"metadata": {"name": ""}, "operations": document}
    if has_directive(document):
        raise KustomizeError("$patch directives are not supported")
    matches = [obj for obj in objects if targeted(obj, document, patch.get("target"))]
    if not matches:
        raise KustomizeError(f"no object for the patch {document.get('metadata')}")
    for obj in matches:
        if "operations" in document:
            patched = json_patch(obj, document["operations"])
        else:
            patched = merge(obj, {k: v for k, v in document.items() if k != "metadata"})
            patched["metadata"] = merge(obj["metadata"], metadata_changes(document))
        obj.clear()
        obj.update(patched)


def metadata_changes(document: Object) -> Object:
    # A patch's name and namespace say which object it is for; they change nothing.
    meta = dict(document.get("metadata") or {})
    meta.pop("name", None)
    meta.pop("namespace", None)
    return meta


def has_directive(tree: Any) -> bool:
    if isinstance(tree, dict):
        return any(key.startswith("$") or has_directive(v) for key, v in tree.items())
    return isinstance(tree, list) and any(has_directive(item) for item in tree)


def targeted(obj: Object, document: Object, target: Object | None) -> bool:
    if target is None:
        return (
            obj["kind"] == document.get("kind")
            and obj["metadata"]["name"] == document["metadata"]["name"]
        )
    if set(target) - {"kind", "name"}:
        raise KustomizeError(f"unsupported patch target fields {sorted(target)}")
    if "kind" in target and obj["kind"] != target["kind"]:
        return False
    # As in kustomize, a target's name is a regular expression matching the whole name.
    return "name" not in target or re.fullmatch(target["name"], obj["metadata"]["name"]) is not None


def merge(original: Any, patch: Any, field: str = "") -> Any:
    """``original`` with the strategic merge ``patch`` applied (neither is changed)."""
    if isinstance(original, dict) and isinstance(patch, dict):
        result = copy.deepcopy(original)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = merge(result[key], value, key)
            else:
                result[key] = copy.deepcopy(value)
        return result
    if isinstance(original, list) and isinstance(patch, list) and field in MERGE_KEYS:
        return merge_list(original, patch, MERGE_KEYS[field])
    return copy.deepcopy(patch)


def merge_list(original: list[Any], patch: list[Any], key: str) -> list[Any]:
    result = copy.deepcopy(original)
    for item in patch:
        index = next((i for i, old in enumerate(result) if old.get(key) == item.get(key)), None)
        if index is None:
            result.append(copy.deepcopy(item))
        else:
            result[index] = merge(result[index], item)
    return result


def json_patch(obj: Object, operations: list[Object]) -> Object:
    """RFC 6902, limited to ``add``, ``replace`` and ``remove``."""
    result = copy.deepcopy(obj)
    for operation in operations:
        op = operation["op"]
        if op not in ("add", "replace", "remove"):
            raise KustomizeError(f"unsupported JSON patch operation {op!r}")
        *parents, last = [
            part.replace("~1", "/").replace("~0", "~") for part in operation["path"][1:].split("/")
        ]
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op == "add":
                node.insert(index, copy.deepcopy(operation["value"]))
                continue
            if index >= len(node):
                raise KustomizeError(f"{operation['path']} does not exist")
        elif op != "add" and last not in node:
            raise KustomizeError(f"{operation['path']} does not exist")
        if op == "remove":
            del node[index if isinstance(node, list) else last]
        else:
            node[index if isinstance(node, list) else last] = copy.deepcopy(operation["value"])
    return result


def set_namespace(objects: list[Object], namespace: str) -> None:
    for obj in objects:
        if obj["kind"] == "Namespace":
            obj["metadata"]["name"] = namespace
        elif obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace


def set_image(objects: list[Object], image: Object) -> None:
    if set(image) - {"name", "newName", "newTag"}:
        raise KustomizeError(f"unsupported image fields {sorted(image)}")
    for container in containers(objects):
        name, _, tag = split_image(container.get("image", ""))
        if name == image["name"]:
            name = image.get("newName", name)
            tag = str(image.get("newTag", tag))
            container["image"] = f"{name}:{tag}" if tag else name


def split_image(reference: str) -> tuple[str, str, str]:
    """``(name, ':', tag)``; a registry's port (``host:5000/app``) is not a tag."""
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, "", ""
    return name, sep, tag


def containers(tree: Any) -> list[Object]:
    """Every container and init container anywhere in ``tree``."""
    found: list[Object] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                found += [item for item in value if isinstance(item, dict)]
            else:
                found += containers(value)
    elif isinstance(tree, list):
        for item in tree:
            found += containers(item)
    return found
