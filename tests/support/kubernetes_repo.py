"""A model repository whose environments run on the kubernetes target, and checks of rendered manifests.

Images are recorded in ``registry/<model>/images.yaml`` as ``mlopsctl build --push`` writes them
(pushing real images is the image tests' part); digests are derived from the version, so every
run renders the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo
from tests.support.services import missing_service

KUBERNETES_VERSION = "1.30.0"
DATA = Path(__file__).resolve().parents[1] / "data" / "kubernetes"
CRD_FILES = {
    "PodMonitor": "monitoring.coreos.com_podmonitors.yaml",
    "ServiceMonitor": "monitoring.coreos.com_servicemonitors.yaml",
    "PrometheusRule": "monitoring.coreos.com_prometheusrules.yaml",
    "HTTPRoute": "gateway.networking.k8s.io_httproutes.yaml",
}
REGISTRY = "registry.example.com/acme"
STAGING_EXTRA = "kubernetes:\n  allow_from_namespaces: [gateway, monitoring]\n"


def digest(model: str, version: int) -> str:
    return "sha256:" + hashlib.sha256(f"{model}@{version}".encode()).hexdigest()


def write_images(root: Path, model: str, versions: list[int], project: str = "demo") -> Path:
    """registry/<model>/images.yaml as build --push appends it, one pushed entry per version."""
    entries = [
        {
            "model": model,
            "version": version,
            "reference": f"{REGISTRY}/{project}/{model}:v{version}",
            "image_id": "sha256:" + hashlib.sha256(f"id-{model}-{version}".encode()).hexdigest(),
            "digest": digest(model, version),
            "built_at": "2026-01-01T00:00:00Z",
            "base": "python:3.11-slim",
            "pushed": True,
        }
        for version in versions
    ]
    path = root / "registry" / model / "images.yaml"
    header = "# Images pushed for this model's versions: appended by mlopsctl build --push, never edited.\n"
    path.write_text(header + yaml.safe_dump({"images": entries}, sort_keys=False))
    return path


def kubernetes_env(name: str, deployments: str, extra: str = "") -> str:
    return (
        f"apiVersion: mlopsctl/v1\nkind: Environment\nname: {name}\ntarget: kubernetes\n{extra}"
        f"deployments:\n{deployments}"
    )


def make_kube_repo(base: Path, *, images: tuple[int, ...] = (1, 2, 3)) -> GitopsRepo:
    """Versions 1-3 of churn registered (4 failed), images pushed for ``images``; staging on the
    kubernetes target running churn v1 (gateway-api routing), everything committed and pushed."""
    repo = make_gitops_repo(base)
    root = repo.root
    write_images(root, "churn", list(images))
    staging = kubernetes_env("staging", "  churn:\n    version: 1\n", STAGING_EXTRA)
    (root / "environments" / "staging.yaml").write_text(staging)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "staging on kubernetes")
    git(root, "push", "-q", "origin", "main")
    return repo


def set_serving_kubernetes(root: Path, block: str, model: str = "churn") -> int:
    """Put ``block`` (YAML lines indented for ``serving.kubernetes:``) into the model spec; the line
    number of the block's first line."""
    spec = root / "models" / model / "model.yaml"
    lines = spec.read_text().splitlines(keepends=True)
    at = lines.index("serving:\n") + 1
    lines[at:at] = ["  kubernetes:\n", *(f"    {line}\n" for line in block.splitlines())]
    spec.write_text("".join(lines))
    return at + 2


# --------------------------------------------------------------------------- checks of rendered objects


def rendered_objects(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """(file name, object) of every YAML file in a rendered folder except the kustomization."""
    return [
        (path.name, yaml.safe_load(path.read_text()))
        for path in sorted(folder.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    ]


def crd_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((DATA / "crds" / CRD_FILES[kind]).read_text())
    served = [v for v in crd["spec"]["versions"] if v.get("storage")]
    return served[0]["schema"]["openAPIV3Schema"]


def validation_errors(obj: dict[str, Any]) -> list[str]:
    """Problems of one object: the Kubernetes API schema (strict) or its CRD's published schema."""
    kind = obj["kind"]
    if kind in CRD_FILES:
        validator = jsonschema.Draft7Validator(_without_kubernetes_extensions(crd_schema(kind)))
        return [f"{kind} {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{kind}: {exc.message} at {'.'.join(map(str, exc.path))}"]
    return []


def _without_kubernetes_extensions(schema: Any) -> Any:
    """The CRD schema as plain JSON Schema: ``x-kubernetes-*`` keys dropped, int-or-string spelled out,
    and unknown fields refused (as the API server prunes them, a typo would be lost silently)."""
    if isinstance(schema, list):
        return [_without_kubernetes_extensions(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    found = {k: _without_kubernetes_extensions(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        found.pop("type", None)
        found["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    closed = found.get("type") == "object" and "properties" in found and "additionalProperties" not in found
    if closed and not schema.get("x-kubernetes-preserve-unknown-fields"):
        found["additionalProperties"] = False
    return found


def require_kubectl() -> str:
    exe = shutil.which("kubectl")
    if exe is None:
        missing_service("kubectl is not installed (Debian: kubernetes-client)")
    return exe


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize FOLDER``: the objects it builds (fails the test when it cannot)."""
    exe = require_kubectl()
    done = subprocess.run([exe, "kustomize", str(folder)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def require_promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        missing_service("promtool is not installed (Debian: prometheus)")
    return exe


def promtool_check_rules(rule: dict[str, Any], scratch: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check rules`` on the groups of a PrometheusRule, extracted to a rules file."""
    path = scratch / "rules.yml"
    path.write_text(json.dumps({"groups": rule["spec"]["groups"]}))
    return subprocess.run(
        [require_promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
