"""Image references: what a model version's image is called, locally and in the registry.

The repository is ``[<image.registry>/]<project>/<model>`` and the tag is ``v<N>``, so every image
of a version has one predictable name (the docker target finds it without a lookup table).
``--tag`` adds names: a bare tag (``latest``, ``candidate``) goes on the same repository, a full
reference (``other/name:tag``) is used as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mlopsctl.errors import UsageError
from mlopsctl.spec.loader import Repo

TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REFERENCE = re.compile(
    rf"^(?:(?P<host>[A-Za-z0-9.-]+(?::[0-9]+)?)/)?(?P<path>{COMPONENT}(?:/{COMPONENT})*)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}))?$"
)


def repository(repo: Repo, model: str) -> str:
    registry = (repo.settings.image.registry or "").strip().rstrip("/")
    local = f"{repo.settings.name}/{model}"
    return f"{registry}/{local}" if registry else local


def version_reference(repo: Repo, model: str, version: int) -> str:
    return f"{repository(repo, model)}:v{version}"


def image_references(repo: Repo, model: str, version: int, tags: Sequence[str] = ()) -> list[str]:
    """The version's own reference first, then one per ``--tag``, without duplicates."""
    found = [version_reference(repo, model, version)]
    for tag in tags:
        reference = _reference(repo, model, tag.strip())
        if reference not in found:
            found.append(reference)
    return found


def _reference(repo: Repo, model: str, tag: str) -> str:
    if TAG.fullmatch(tag):
        return f"{repository(repo, model)}:{tag}"
    match = REFERENCE.fullmatch(tag)
    if match is None or "/" not in tag:
        raise UsageError(
            f"--tag '{tag}' is neither a tag nor an image reference",
            hint="give a tag such as latest or candidate, or a full reference such as acme/churn:2024-06",
        )
    return tag if match["tag"] else f"{tag}:latest"
