"""``mlopsctl registry push``: artifacts trained before the team's store was configured, sent to it.

A version trained with the local store keeps its artifact in ``<state_dir>/artifacts``, the same
folder a remote store uses as its cache; once ``MLOPS_ARTIFACT_STORE`` (or ``artifact_store``) names
an ``oci://`` or ``s3://`` store, this uploads what the store lacks. Each local file is checked
against its record's size and sha256 first (a damaged file is never sent under the record's
name), the upload is confirmed by asking the store, and pushing again uploads nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlopsctl.contract.records import ArtifactRef, VersionRecord
from mlopsctl.contract.versions import parse_ref
from mlopsctl.errors import NotFound, UsageError
from mlopsctl.registry.artifacts import ArtifactStore, short_digest
from mlopsctl.registry.records import read_record
from mlopsctl.registry.remote import KIND, RemoteArtifactStore
from mlopsctl.registry.store import artifact_store_for, latest_version, list_versions
from mlopsctl.spec.loader import Repo

UPLOADED = "uploaded"
ALREADY_THERE = "already in the store"
MISSING = "not on this machine"


@dataclass(frozen=True)
class PushedArtifact:
    """One version's artifact and what pushing it did."""

    ref: str
    sha256: str
    size: int
    outcome: str
    """uploaded, already in the store, or not on this machine (then the command exits 1)."""


@dataclass
class PushResult:
    store: str
    artifacts: list[PushedArtifact] = field(default_factory=list)

    @property
    def missing(self) -> list[PushedArtifact]:
        return [artifact for artifact in self.artifacts if artifact.outcome == MISSING]

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "artifacts": [asdict(artifact) for artifact in self.artifacts]}


def push_artifacts(repo: Repo, refs: list[str], *, every_version: bool = False) -> PushResult:
    """Upload the artifacts of ``refs`` (or of every version) that the remote store lacks."""
    store = remote_store(repo)
    records = list_versions(repo) if every_version else [_record(repo, ref) for ref in refs]
    return PushResult(store.uri, [push_one(store, record) for record in records])


def remote_store(repo: Repo) -> RemoteArtifactStore:
    store = artifact_store_for(repo)
    if not isinstance(store, RemoteArtifactStore):
        raise UsageError(
            f"registry push copies this machine's artifacts to a shared store, and the artifact store here "
            f"is the folder {store.describe()}",
            title="No shared artifact store",
            hint="choose the team's store: export MLOPS_ARTIFACT_STORE=oci://HOST/NAMESPACE (or s3://BUCKET/PREFIX)",
        )
    return store


def push_one(store: RemoteArtifactStore, record: VersionRecord) -> PushedArtifact:
    """The version's artifact in the remote store: checked here, then uploaded unless it is there."""
    artifact = record.artifact
    return PushedArtifact(record.ref, artifact.sha256, artifact.size, push_cached(store, artifact))


def push_cached(store: RemoteArtifactStore, artifact: ArtifactRef) -> str:
    """Upload this machine's cached copy of ``artifact`` unless the store has it: what happened."""
    if store.remote.has(KIND, artifact.sha256):
        return ALREADY_THERE
    if not store.path_for(artifact.sha256).is_file():
        return MISSING
    ArtifactStore.get(store, artifact)  # this machine's copy: size and sha256 checked before it is sent
    return UPLOADED if store.upload(artifact.sha256) else ALREADY_THERE


def missing_error(result: PushResult) -> NotFound:
    """What to say when some versions' artifacts are neither in the store nor on this machine."""
    refs = ", ".join(f"{item.ref} (sha256:{short_digest(item.sha256)})" for item in result.missing)
    return NotFound(
        f"not in {result.store} and not on this machine: {refs}",
        title="Artifact missing",
        hint="push them from the machine that trained them (mlopsctl registry push MODEL@VERSION there), "
        "or rebuild each one: mlopsctl reproduce MODEL@VERSION",
    )


def _record(repo: Repo, ref: str) -> VersionRecord:
    model, version = parse_ref(ref)
    if version is None:
        version = latest_version(repo, model)
        if version is None:
            raise NotFound(f"{model} has no registered versions", hint=f"register one with: mlopsctl train {model}")
    return read_record(repo.root, model, version)
