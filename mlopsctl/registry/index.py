"""A derived, rebuildable index of version summaries, so listing thousands of versions stays fast.

The record files under ``registry/`` are the only source of truth. This index is a cache in the
git-ignored state folder mapping each record file to the summary ``registry list`` shows, keyed by
the file's size and modification time: a record that changed or appeared is parsed again (with the
C YAML loader, without pydantic), a deleted one drops out, and deleting the index only costs one
slower listing. Records are immutable, so in practice every entry stays valid.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.fsio import atomic_write_bytes
from mlopsctl.registry.records import RECORD_NAME
from mlopsctl.registry.store import parse_record_file

INDEX_FORMAT = 1
INDEX_NAME = "registry-index.json"


@dataclass
class VersionSummary:
    """The fields of a version record that listings show."""

    model: str
    version: int
    created_at: str
    run_id: str
    estimator: str
    task: str
    metrics: dict[str, float]
    gates_passed: bool
    data_rows: int | None
    data_sha256: str
    artifact_sha256: str
    artifact_size: int

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass
class ModelFolder:
    """One folder under registry/: its version numbers and whether it has an archive list."""

    model: str
    versions: list[int] = field(default_factory=list)
    has_archive: bool = False


def scan_registry(root: Path, model: str | None = None) -> list[ModelFolder]:
    """Model folders under registry/ (one, or all) with their version numbers, from names only."""
    base = root / "registry"
    if model is not None:
        names = [model]
    elif base.is_dir():
        names = sorted(entry.name for entry in os.scandir(base) if entry.is_dir(follow_symlinks=False))
    else:
        names = []
    folders = [_scan_folder(base / name, name) for name in names]
    return [folder for folder in folders if folder.versions or model is not None]


def _scan_folder(folder: Path, model: str) -> ModelFolder:
    found = ModelFolder(model)
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        match = RECORD_NAME.match(entry.name)
        if match:
            found.versions.append(int(match[1]))
        elif entry.name == "archived.yaml":
            found.has_archive = True
    found.versions.sort()
    return found


def summaries(root: Path, state_dir: Path, folders: list[ModelFolder], *, complete: bool) -> list[VersionSummary]:
    """Summaries of every version in ``folders``, from the index where it is current, else parsed.

    ``complete`` says ``folders`` is the whole registry, so index entries of vanished files are dropped.
    """
    index_file = state_dir / INDEX_NAME
    cached = _read_index(index_file)
    fresh: dict[str, list[Any]] = {}
    out: list[VersionSummary] = []
    for folder in folders:
        for number in folder.versions:
            key = f"{folder.model}/v{number}.yaml"
            summary, entry = _summary(root / "registry" / key, cached.get(key))
            fresh[key] = entry
            out.append(summary)
    changed = any(cached.get(key) != entry for key, entry in fresh.items())
    if changed or (complete and len(cached) != len(fresh)):
        _write_index(index_file, fresh if complete else {**cached, **fresh})
    return out


def _summary(path: Path, entry: list[Any] | None) -> tuple[VersionSummary, list[Any]]:
    stat = path.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    if entry is not None and entry[:2] == stamp:
        return VersionSummary(**entry[2]), entry
    summary = summary_from(parse_record_file(path))
    return summary, [*stamp, asdict(summary)]


def summary_from(data: dict[str, Any]) -> VersionSummary:
    """A summary from a record's plain data (no validation: listings must stay fast)."""
    fingerprint = data.get("data") or {}
    artifact = data.get("artifact") or {}
    return VersionSummary(
        model=str(data.get("model", "")),
        version=int(data.get("version", 0)),
        created_at=str(data.get("created_at", "")),
        run_id=str(data.get("run_id", "")),
        estimator=str(data.get("estimator", "")),
        task=str(data.get("task", "")),
        metrics={str(k): _number(v) for k, v in (data.get("metrics") or {}).items()},
        gates_passed=bool(data.get("gates_passed", False)),
        data_rows=fingerprint.get("rows"),
        data_sha256=str(fingerprint.get("sha256", "")),
        artifact_sha256=str(artifact.get("sha256", "")),
        artifact_size=int(artifact.get("size", 0)),
    )


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _read_index(path: Path) -> dict[str, list[Any]]:
    try:
        loaded = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(loaded, dict) or loaded.get("format") != INDEX_FORMAT:
        return {}
    entries = loaded.get("entries")
    return entries if isinstance(entries, dict) else {}


def _write_index(path: Path, entries: dict[str, list[Any]]) -> None:
    """Best effort: a read-only or missing state folder only makes the next listing slower."""
    text = json.dumps({"format": INDEX_FORMAT, "entries": entries}, separators=(",", ":"), allow_nan=True)
    with contextlib.suppress(OSError):
        atomic_write_bytes(path, text.encode("utf-8"))
