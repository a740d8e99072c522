"""Helpers for the image tests against a real registry (issue 14): where a repository pushes images,
what a registry says a tag's digest is, and what the engine did (its events).

The registry itself is :func:`tests.support.stores.oci_registry` (Debian's distribution registry on
127.0.0.1); the Docker engine treats 127.0.0.0/8 registries as plain-HTTP ones, so push and pull
work without TLS.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.apply_repo import git
from tests.support.services import docker_client

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def set_image_registry(root: Path, registry: str) -> None:
    """``image.registry`` in the repository's mlops.yaml, committed."""
    path = root / "mlops.yaml"
    settings = yaml.safe_load(path.read_text())
    settings.setdefault("image", {})["registry"] = registry
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    git(root, "commit", "-q", "-m", f"Images go to {registry}", "--", "mlops.yaml")


def images_yaml(entries: list[dict[str, Any]]) -> str:
    """An images.yaml as ``build --push`` writes it, with these entries (model churn)."""
    full = [
        {
            "model": "churn",
            "version": entry["version"],
            "reference": entry["reference"],
            "image_id": "sha256:" + "cd" * 32,
            "digest": entry["digest"],
            "built_at": "2026-01-01T00:00:00Z",
            "pushed": True,
        }
        for entry in entries
    ]
    return "# pushed images\n" + yaml.safe_dump({"images": full}, sort_keys=False)


def registry_digest(registry: str, name: str, tag: str) -> str:
    """The registry's own ``Docker-Content-Digest`` for ``name:tag`` (a HEAD of the manifest)."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{name}/manifests/{tag}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    with _OPENER.open(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def image_events(since: float, until: float) -> list[dict[str, Any]]:
    """The engine's image events (pull, tag, delete, ...) between two moments (seconds since the epoch)."""
    client = docker_client()
    try:
        events = client.api.events(since=int(since), until=int(until) + 1, filters={"type": "image"}, decode=True)
        return list(events)
    finally:
        client.close()


def remove_every_tag(image_id: str) -> None:
    """Take the image off the engine under every name it has, as a machine that never built it."""
    client = docker_client()
    try:
        client.api.remove_image(image_id, force=True)
    finally:
        client.close()
