"""Whether this machine can get the artifact, and the image, of every version a plan would start (issue 14).

A fresh clone (a CI runner, a teammate) has the version records from Git but not the artifacts,
which live in the artifact store of whoever trained. ``plan`` must say so, naming the version and
the fix, instead of promising a start that ``apply`` then fails: a remote store (``oci://``,
``s3://``) is asked whether it holds the blob; a folder store must hold the file. A store that does
not answer is the exit-3 :class:`~mlopsctl.errors.StoreUnreachable` its port raises.

The docker target also needs the stable version's image. When ``registry/<model>/images.yaml``
records a pushed digest, the engine must hold it or the registry must (one manifest request,
bounded; a registry that does not answer is exit 3); when nothing was pushed, apply builds it,
which needs the artifact. An entry naming another registry than ``image.registry`` is a problem at
its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from mlopsctl.deploy.model import ServiceSpec
from mlopsctl.errors import MlopsError, UnreachableError
from mlopsctl.registry.artifacts import ArtifactStore
from mlopsctl.registry.records import record_path
from mlopsctl.registry.store import artifact_store_for, parse_record_file
from mlopsctl.spec.loader import Repo

if TYPE_CHECKING:
    from mlopsctl.build.engine import Engine

# The block the registry writes; a record laid out otherwise is parsed in full.
ARTIFACT_BLOCK = re.compile(r"^artifact:\n(?:  [a-z_]+: .*\n)*?  sha256: ([0-9a-f]{64})\n  size: (\d+)\n", re.MULTILINE)


def missing_artifacts(repo: Repo, specs: list[ServiceSpec]) -> list[str]:
    """One line per version whose artifact (or, on the docker target, image) this machine cannot get."""
    store: ArtifactStore | None = None
    images = _Images(repo)
    found: list[str] = []
    for spec in specs:
        for version in spec.versions():
            digest = _artifact_of(record_path(repo.root, spec.model, version))
            if digest is None:
                continue  # an unreadable or missing record is refusals()' to report
            store = store or artifact_store_for(repo)
            held = store.available(*digest)
            if _runs_image(spec, version):
                found += images.problems(spec.model, version, held, _missing(spec.model, version, digest[0], store))
            elif not held:
                found.append(_missing(spec.model, version, digest[0], store))
    return list(dict.fromkeys(found))


def _runs_image(spec: ServiceSpec, version: int) -> bool:
    """The docker target runs the stable version's image (a candidate is copied into it)."""
    return spec.target == "docker" and version == spec.version


class _Images:
    """The docker target's images for the plan: one engine connection, made only when a digest is to check."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._engine: Engine | None = None

    def problems(self, model: str, version: int, artifact_held: bool, artifact_missing: str) -> list[str]:
        """What stops apply from having this version's image (and its artifact, which apply reads too)."""
        from mlopsctl.build.images import pushed_image

        try:
            pushed = pushed_image(self.repo, model, version)
        except UnreachableError:
            raise
        except MlopsError as exc:
            return [exc.message]
        if pushed is None:
            return [] if artifact_held else [_never_pushed(model, version, artifact_missing)]
        found = [] if artifact_held else [artifact_missing]
        if self.engine.image(pushed.pinned) is None and not self.engine.holds_manifest(pushed.pinned):
            found.insert(0, _not_in_registry(model, version, pushed.pinned, pushed.where))
        return found

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from mlopsctl.build.engine import Engine

            self._engine = Engine.connect(timeout=120)
        return self._engine


def _never_pushed(model: str, version: int, artifact_missing: str) -> str:
    return (
        f"no image of {model}@{version} was pushed (registry/{model}/images.yaml names no digest for it) and it "
        f"cannot be built here: {artifact_missing}; or push its image from a machine that has the version: "
        f"mlopsctl build {model}@{version} --push"
    )


def _not_in_registry(model: str, version: int, pinned: str, where: str) -> str:
    return (
        f"the image of {model}@{version} ({pinned}, {where}) is not in the registry: "
        f"push it again from a machine that has the version: mlopsctl build {model}@{version} --push"
    )


def _artifact_of(path: Path) -> tuple[str, int] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = ARTIFACT_BLOCK.search(text)
    if match:
        return match[1], int(match[2])
    try:
        artifact = parse_record_file(path)["artifact"]
        return str(artifact["sha256"]), int(artifact["size"])
    except (MlopsError, KeyError, TypeError, ValueError):
        return None


def _missing(model: str, version: int, sha256: str, store: ArtifactStore) -> str:
    return (
        f"the artifact of {model}@{version} (sha256:{sha256[:12]}) is not in the artifact store {store.describe()}: "
        "point MLOPS_ARTIFACT_STORE (or artifact_store in mlops.yaml) at the team's store (oci://HOST/NAMESPACE, "
        f"s3://BUCKET/PREFIX or a shared folder), or train it here: mlopsctl reproduce {model}@{version}"
    )
