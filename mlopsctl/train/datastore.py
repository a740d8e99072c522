"""Data versions that travel: train stores the exact data file, ``data pull`` and ``reproduce`` get it back.

At ``train`` the data file is checked against ``data_snapshot_max_bytes`` before anything is fitted,
then stored (content-addressed by the sha256 the record carries, see
:mod:`mlopsctl.registry.snapshots`) while the model fits, and the upload is confirmed before the
version is registered. ``mlopsctl data pull MODEL@V`` writes the snapshot back at the record's
``data.uri`` (or ``--to``); ``reproduce`` reads it when the file at ``data.uri`` is missing or
holds other bytes. The record is repository content, so its ``data.uri`` is written only inside the
repository, never into ``.git`` or the state folder, and never through a symbolic link.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.contract.records import VersionRecord
from mlopsctl.contract.versions import parse_ref
from mlopsctl.data.load import Dataset, data_file, display_path, load_dataset
from mlopsctl.errors import NotFound, PolicyRefused, UsageError
from mlopsctl.registry.artifacts import short_digest
from mlopsctl.registry.records import read_record, record_path
from mlopsctl.registry.snapshots import SIZE_SETTING, StoredSnapshot, copy_verified, file_sha256, snapshots_for
from mlopsctl.registry.store import latest_version
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.locations import shown
from mlopsctl.spec.models import ModelSpec


class DataTooLarge(PolicyRefused):
    title = "Data too large to store"


@dataclass(frozen=True)
class PulledData:
    """What ``data pull`` did: where the data went and whether it was already there."""

    ref: str
    path: str
    """Where the file is, relative to the repository when inside it."""
    sha256: str
    size: int
    store: str
    already: bool
    """True: the file there already held exactly these bytes; nothing was fetched or written."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "store": self.store,
            "written": not self.already,
        }


# --------------------------------------------------------------------------- train


def require_storable(repo: Repo, spec: ModelSpec, data_path: Path | None) -> None:
    """Stop before fitting when the data file is larger than ``data_snapshot_max_bytes`` (0: never stored)."""
    limit = repo.settings.data_snapshot_max_bytes
    if limit == 0:
        return
    file = data_file(repo, spec, data_path)
    try:
        size = file.stat().st_size
    except OSError:
        return  # loading the data says what is wrong with the file
    if size > limit:
        raise DataTooLarge(
            f"{display_path(repo.root, file)} is {size:,} bytes, over {SIZE_SETTING} ({limit:,} bytes) in mlops.yaml: "
            "train stores the exact data file so that reproduce and data pull work on any machine",
            hint=f"raise {SIZE_SETTING} in mlops.yaml, or set it to 0 to train without storing the data "
            "(reproduce then needs the file itself)",
        )


class SnapshotUpload:
    """The data file stored in the background while the model fits; :meth:`result` waits and confirms."""

    def __init__(self, repo: Repo, dataset: Dataset) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._future: Future[StoredSnapshot] | None = None
        if repo.settings.data_snapshot_max_bytes == 0:
            return
        snapshots = snapshots_for(repo)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlopsctl-data-snapshot")
        self._future = self._pool.submit(snapshots.store, dataset.path, dataset.fingerprint.sha256)

    def result(self) -> StoredSnapshot | None:
        """The stored snapshot (None when snapshots are off); raises what storing it raised."""
        if self._future is None:
            return None
        return self._future.result()

    def close(self) -> None:
        """Wait for the upload to end (a run that failed still leaves the stores consistent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


# --------------------------------------------------------------------------- data pull


def pull_data(repo: Repo, ref: str, output: Path | None = None) -> PulledData:
    """Put ``ref``'s training data back at the record's data.uri (or ``output``), digest checked first."""
    record = read_ref(repo, ref)
    target = output if output is not None else writable_data_path(repo, record)
    target = target if target.is_absolute() else Path.cwd() / target
    snapshots = snapshots_for(repo)
    where = display_path(repo.root, target)
    if target.is_dir():
        raise UsageError(f"{where} is a folder", hint="give --to the path of a file")
    if target.is_file() and file_sha256(target) == record.data.sha256:
        return PulledData(record.ref, where, record.data.sha256, target.stat().st_size, snapshots.name, True)
    source = snapshots.fetch(record.data.sha256, what=f"{record.ref}'s data")
    copy_verified(source, target, record.data.sha256)
    return PulledData(record.ref, where, record.data.sha256, target.stat().st_size, snapshots.name, False)


def writable_data_path(repo: Repo, record: VersionRecord) -> Path:
    """The record's data.uri as a file to write: inside the repository, not in .git or the state folder."""
    uri = record.data.uri
    path = repo.resolve(uri)
    root = repo.root.resolve()
    resolved = path.resolve()
    refused = None
    if not resolved.is_relative_to(root) or resolved == root:
        refused = "is outside the repository"
    elif resolved.is_relative_to(root / ".git") or resolved.is_relative_to(repo.state_dir.resolve()):
        refused = "is inside .git or the state folder"
    if refused is None:
        return path
    where = display_path(repo.root, record_path(repo.root, record.model, record.version))
    raise PolicyRefused(
        f"{where}: data.uri {shown(uri)} {refused}; data pull writes only data files inside the repository",
        title="Data outside the repository",
        hint=f"write it elsewhere with: mlopsctl data pull {record.ref} --to PATH",
    )


# --------------------------------------------------------------------------- reproduce


def snapshot_dataset(repo: Repo, spec: ModelSpec, record: VersionRecord, why: str) -> tuple[Dataset, str]:
    """The recorded data read from its snapshot (fetched from the store when this machine lacks it), and
    the line that says so (``why`` the file in the repository was not used)."""
    snapshots = snapshots_for(repo)
    path = snapshots.fetch(record.data.sha256, what=f"{record.ref}'s data")
    note = f"{why}; used the snapshot sha256:{short_digest(record.data.sha256)} from {snapshots.name}"
    return load_dataset(repo, spec, path, named=record.data.uri), note


def read_ref(repo: Repo, ref: str) -> VersionRecord:
    model, version = parse_ref(ref)
    number = version if version is not None else latest_version(repo, model)
    if number is None:
        raise NotFound(f"{model} has no registered versions", hint=f"train one with: mlopsctl train {model}")
    return read_record(repo.root, model, number)


__all__ = [
    "DataTooLarge",
    "PulledData",
    "SnapshotUpload",
    "pull_data",
    "read_ref",
    "require_storable",
    "snapshot_dataset",
    "writable_data_path",
]
