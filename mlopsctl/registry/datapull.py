"""``mlopsctl data pull MODEL@V``: the exact data a version was trained on, put back in place.

The snapshot train stored (:mod:`mlopsctl.registry.snapshots`) is fetched, checked against the
record's ``data.sha256`` and written atomically at the record's ``data.uri`` (or where the user
says). The record is repository content, so its ``data.uri`` is written only inside the
repository, never into ``.git`` or the state folder, and never through a symbolic link that leaves
it. Only the registry is loaded: no pandas or scikit-learn, so the command answers quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.contract.records import VersionRecord
from mlopsctl.contract.versions import parse_ref
from mlopsctl.errors import NotFound, PolicyRefused, UsageError
from mlopsctl.registry.records import read_record, record_path
from mlopsctl.registry.snapshots import copy_verified, file_sha256, snapshots_for
from mlopsctl.registry.store import latest_version
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.locations import shown


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


def read_ref(repo: Repo, ref: str) -> VersionRecord:
    model, version = parse_ref(ref)
    number = version if version is not None else latest_version(repo, model)
    if number is None:
        raise NotFound(f"{model} has no registered versions", hint=f"train one with: mlopsctl train {model}")
    return read_record(repo.root, model, number)


def display_path(root: Path, file: Path) -> str:
    """Relative to the repository when inside it, else absolute (as data paths are named everywhere)."""
    try:
        return file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(file.resolve())


__all__ = ["PulledData", "pull_data", "read_ref", "writable_data_path"]
