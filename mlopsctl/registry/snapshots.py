"""Data snapshots: the exact training data file, kept content-addressed beside the artifacts (issue 14).

A version record already carries its data's sha256 (``data.sha256``); that digest is the snapshot's
name, so the same file trained on twice is stored once and an identical file is never uploaded
twice. The layout follows the artifacts':

* locally, ``<artifact folder>/data/sha256/<first 2 hex>/<sha256>`` (the store itself when it is a
  folder, the cache of a remote store otherwise);
* remotely, the blob store's kind ``data`` (``NAMESPACE/data:sha256-<hex>`` in an OCI registry,
  ``PREFIX/data/sha256/<hex>`` in S3), through the same port as the artifacts.

Order keeps the stores consistent: :meth:`DataSnapshots.store` copies the file (hashing what it
copies: a file that changed since it was fingerprinted is refused), uploads it unless the store has
it, and asks the store again; only then may train register the version. Every byte read back
(:meth:`DataSnapshots.fetch`) is checked against the digest before it is written anywhere.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlopsctl.errors import CheckFailed, MlopsError, NotFound, StoreUnreachable
from mlopsctl.fsio import atomic_write_bytes, fsync_dir
from mlopsctl.registry.artifacts import SHA256_PATTERN, ArtifactStore, short_digest
from mlopsctl.registry.remote import BlobStore, RemoteArtifactStore
from mlopsctl.registry.store import artifact_store_for
from mlopsctl.spec.loader import Repo
from mlopsctl.state_links import refuse_state_links

KIND = "data"
MEDIA_TYPE = "application/vnd.mlopsctl.data.v1"
FOLDER = "data"
BLOCK = 1 << 20
DATA_MODE = 0o644
SIZE_SETTING = "data_snapshot_max_bytes"


class SnapshotRefused(MlopsError):
    """Bytes that are not the snapshot they claim to be (tampered or corrupted): never written anywhere."""

    title = "Data snapshot refused"


@dataclass(frozen=True)
class StoredSnapshot:
    """Where a training data file was stored, and what it cost."""

    sha256: str
    size: int
    store: str
    """The store as messages name it (the folder, or the oci:// / s3:// URI)."""
    copied: bool
    """False: the local store already held these bytes."""
    uploaded: bool
    """False: no remote store, or it already held these bytes (deduplicated)."""
    remote: bool
    """Whether the store is remote (then ``uploaded`` says whether these bytes were new to it)."""

    @property
    def new(self) -> bool:
        """Whether the store did not hold these bytes before (False: deduplicated, nothing sent or copied)."""
        return self.uploaded if self.remote else self.copied

    def to_dict(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "store": self.store,
            "new": self.new,
            "uploaded": self.uploaded,
        }


class DataSnapshots:
    """The data snapshots of one artifact store: a local folder, and the remote behind it when there is one."""

    def __init__(self, root: Path, *, describe: str, repo_root: Path | None = None, remote: BlobStore | None = None):
        self.root = root
        self.name = describe
        self.repo_root = repo_root
        self.remote = remote

    def path_for(self, sha256: str) -> Path:
        if not SHA256_PATTERN.fullmatch(sha256):
            raise CheckFailed(f"'{sha256}' is not a sha256 digest", hint="a digest is 64 lower-case hex characters")
        path = self.root / FOLDER / "sha256" / sha256[:2] / sha256
        if self.repo_root is not None and path.is_relative_to(self.repo_root):
            refuse_state_links(self.repo_root, path)
        return path

    def store(self, source: Path, sha256: str) -> StoredSnapshot:
        """Keep ``source`` (whose fingerprint said ``sha256``) here and in the remote store, confirmed."""
        path = self.path_for(sha256)
        copied = False
        if not path.is_file():
            self._copy(source, path, sha256)
            copied = True
        uploaded = self._upload(path, sha256, verified=copied)
        return StoredSnapshot(sha256, path.stat().st_size, self.name, copied, uploaded, self.remote is not None)

    def holds(self, sha256: str) -> bool:
        """Whether this machine can get the snapshot (here, or from the remote store)."""
        return self.path_for(sha256).is_file() or (self.remote is not None and self.remote.has(KIND, sha256))

    def fetch(self, sha256: str, *, what: str) -> Path:
        """The local file holding the snapshot, downloaded first when only the remote has it; digest checked.

        ``what`` names the version in messages (``churn@1's data``).
        """
        path = self.path_for(sha256)
        if path.is_file():
            got = file_sha256(path)
            if got == sha256:
                return path
            if self.remote is None:
                raise SnapshotRefused(
                    f"the snapshot of {what} in {self.name} is damaged: its sha256 is {got}, not {sha256}",
                    hint="it was not used; restore it from a copy of the store, or the file from where it came from",
                )
            path.unlink()  # a damaged cache copy: fetched again from the store below
        if self.remote is None or not self.remote.has(KIND, sha256):
            raise NotFound(
                f"the artifact store {self.name} holds no snapshot of {what} (sha256:{short_digest(sha256)})",
                hint="it was trained before data snapshots, with data_snapshot_max_bytes: 0, or with another "
                "store (set MLOPS_ARTIFACT_STORE to it); or restore the file from where it came from",
            )
        data = self.remote.pull(KIND, sha256)
        got = hashlib.sha256(data).hexdigest()
        if got != sha256:
            raise SnapshotRefused(
                f"the artifact store {self.name} returned other bytes for {what} (sha256:{sha256}): sha256:{got}",
                hint="the stored snapshot was tampered with or corrupted; nothing was written",
            )
        atomic_write_bytes(path, data)
        return path

    def _copy(self, source: Path, path: Path, sha256: str) -> None:
        try:
            copy_verified(source, path, sha256)
        except OSError as exc:
            raise CheckFailed(
                f"cannot store the data snapshot in {self.name}: {exc.strerror} ({exc.filename or path})",
                title="Data not stored",
                hint="nothing was registered; check that folder, or set data_snapshot_max_bytes: 0 in mlops.yaml "
                "to train without storing the data",
            ) from None

    def _upload(self, path: Path, sha256: str, *, verified: bool) -> bool:
        if self.remote is None or self.remote.has(KIND, sha256):
            return False
        if not verified and file_sha256(path) != sha256:  # never upload a damaged local copy under this name
            path.unlink()
            raise SnapshotRefused(
                f"the local copy of data sha256:{short_digest(sha256)} in {self.root / FOLDER} is damaged",
                hint="it was removed; run the command again to copy the data once more",
            )
        try:
            self.remote.push(KIND, path, sha256, MEDIA_TYPE)
        except StoreUnreachable:
            raise
        except MlopsError:
            # Two clones pushing the same data at once: content-addressed, so the winner's blob is ours.
            if not self.remote.has(KIND, sha256):
                self.remote.push(KIND, path, sha256, MEDIA_TYPE)
        if not self.remote.has(KIND, sha256):
            raise NotFound(
                f"the data sha256:{short_digest(sha256)} was uploaded to {self.name} but the store does not list it",
                hint="nothing was registered; check the store and run the command again",
            )
        return True


def snapshots_for(repo: Repo) -> DataSnapshots:
    """The data snapshots of the repository's artifact store (chosen exactly as the artifacts' store is)."""
    artifacts: ArtifactStore = artifact_store_for(repo)
    remote = artifacts.remote if isinstance(artifacts, RemoteArtifactStore) else None
    return DataSnapshots(artifacts.root, describe=artifacts.describe(), repo_root=repo.root, remote=remote)


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in blocks (a data file may be gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_verified(source: Path, target: Path, sha256: str) -> None:
    """Copy ``source`` to ``target`` atomically, refusing it (nothing written) unless its bytes hash to ``sha256``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
            for block in iter(lambda: handle.read(BLOCK), b""):
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, DATA_MODE)  # mkstemp's 0600 would hide a restored data file from the rest of the team
        if digest.hexdigest() != sha256:
            raise CheckFailed(
                f"{source} changed while it was in use: its sha256 is now {short_digest(digest.hexdigest())}, "
                f"it was {short_digest(sha256)} when it was read",
                title="Data changed",
                hint="nothing was registered; run the command again once the file stays the same",
            )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


__all__ = [
    "KIND",
    "SIZE_SETTING",
    "DataSnapshots",
    "SnapshotRefused",
    "StoredSnapshot",
    "copy_verified",
    "file_sha256",
    "snapshots_for",
]
