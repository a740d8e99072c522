"""A derived, rebuildable index of version summaries, so listing thousands of versions stays fast.

The record files under ``registry/`` are the only source of truth. This index is a cache: a SQLite
file in the git-ignored state folder holding, per record file, the summary ``registry list`` shows
and the file's size and modification time. A record that changed or appeared is read again, a
deleted one drops out, a corrupt or unwritable index is ignored (and rebuilt when possible), and
deleting it only costs one slower listing. Records are immutable, so in practice entries stay valid.
The same file caches who registered each record (:mod:`mlopsctl.registry.provenance`), keyed by
the commit its history was read at.

Reading a record for its summary does not build the whole document: mlopsctl writes records in one
known layout, so a line scanner picks the summary fields out of the head of the file. Anything it
does not recognise for certain (a hand-edited file, an unusual scalar) falls back to the full YAML
parse, so the scanner can be fast without ever being wrong.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.contract.versions import MAX_VERSION
from mlopsctl.errors import CheckFailed
from mlopsctl.registry.paths import RECORD_NAME, refuse_links
from mlopsctl.registry.store import parse_record_file
from mlopsctl.state_links import refuse_database_links

MAX_STORED = 2**63 - 1
"""The largest integer SQLite stores."""
INDEX_NAME = "registry-index.sqlite"
INDEX_FORMAT = 2
"""2: the authors tables of :mod:`mlopsctl.registry.provenance` (who registered each version)."""
QUERY_CHUNK = 500
COLUMNS = (
    "key, model, version, size, mtime_ns, created_at, run_id, estimator, task, metrics, gates_passed, "
    "data_rows, data_sha256, artifact_sha256, artifact_size"
)


@dataclass(slots=True)
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "ref": self.ref,
            "created_at": self.created_at,
            "run_id": self.run_id,
            "estimator": self.estimator,
            "task": self.task,
            "metrics": dict(self.metrics),
            "gates_passed": self.gates_passed,
            "data_rows": self.data_rows,
            "data_sha256": self.data_sha256,
            "artifact_sha256": self.artifact_sha256,
            "artifact_size": self.artifact_size,
        }


@dataclass
class ModelFolder:
    """One folder under registry/: its version numbers and whether it has an archive list."""

    model: str
    versions: list[int] = field(default_factory=list)
    has_archive: bool = False


def scan_registry(root: Path, model: str | None = None) -> list[ModelFolder]:
    """Model folders under registry/ (one, or all) with their version numbers, from names only."""
    base = os.path.join(root, "registry")
    refuse_links(root, Path(base))
    if model is not None:
        names = [model]
    elif os.path.isdir(base):
        names = sorted(entry.name for entry in os.scandir(base) if entry.is_dir() or entry.is_symlink())
    else:
        names = []
    folders = [_scan_folder(root, name) for name in names]
    return [folder for folder in folders if folder.versions or model is not None]


def _scan_folder(root: Path, model: str) -> ModelFolder:
    """A model's folder from its entry names; a link in place of the folder or of a record is refused."""
    folder = Path(root, "registry", model)
    refuse_links(root, folder)
    found = ModelFolder(model)
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        match = RECORD_NAME.match(entry.name)
        if (match or entry.name == "archived.yaml") and entry.is_symlink():
            refuse_links(root, folder / entry.name)
        if match:
            found.versions.append(int(match[1]))
        elif entry.name == "archived.yaml":
            found.has_archive = True
    found.versions.sort()
    return found


def summaries(root: Path, state_dir: Path, folders: list[ModelFolder], *, complete: bool) -> list[VersionSummary]:
    """Summaries of every version in ``folders``, from the index where it is current, else read from the file.

    ``complete`` says ``folders`` is the whole registry, so index entries of vanished files are dropped.
    """
    keys = [(folder.model, number) for folder in folders for number in folder.versions]
    registry = os.path.join(root, "registry")
    with open_index(root, state_dir) as index:
        cached = _read_rows(index, None if complete else [record_key(m, v) for m, v in keys])
        out: list[VersionSummary] = []
        changed: list[tuple[Any, ...]] = []
        for model, version in keys:
            key = record_key(model, version)
            try:
                stat = os.stat(os.path.join(registry, key))
            except FileNotFoundError:
                continue  # removed since the folder was listed (a checkout running meanwhile)
            row = cached.pop(key, None)
            if row is not None and row[3] == stat.st_size and row[4] == stat.st_mtime_ns:
                out.append(_from_row(row))
                continue
            summary = read_summary(os.path.join(registry, key))
            out.append(summary)
            changed.append(_to_row(key, summary, stat.st_size, stat.st_mtime_ns))
        _write_rows(index, changed, list(cached) if complete else [])
    return out


def record_key(model: str, version: int) -> str:
    """``churn/v3.yaml``: how the index names a record (its path below ``registry/``)."""
    return f"{model}/v{version}.yaml"


# --------------------------------------------------------------------------- reading one record


def read_summary(path: str) -> VersionSummary:
    """A record's summary: the fast line scan of mlopsctl's own layout, else the full YAML parse.

    A record whose summary fields are not what mlopsctl writes (``version: one``, a number too
    large to store) is a CheckFailed naming the file, never a crash of the whole listing.
    """
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8", errors="replace")
    fields = scan_summary_fields(text)
    data = fields if fields is not None else parse_record_file(Path(path))
    try:
        summary = summary_from(data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _bad_summary(path, f"a summary field does not read ({exc})") from None
    if not 1 <= summary.version <= MAX_VERSION:
        raise _bad_summary(path, f"version must be a number from 1 to {MAX_VERSION}")
    if not all(0 <= size <= MAX_STORED for size in (summary.data_rows or 0, summary.artifact_size)):
        raise _bad_summary(path, "data.rows and artifact.size must be sizes, not huge numbers")
    return summary


def _bad_summary(path: str, reason: str) -> CheckFailed:
    return CheckFailed(
        f"registry record {path}: {reason}",
        title="Invalid record",
        hint=f"records are written by mlopsctl and never edited; restore it with: git checkout -- {path}",
    )


def summary_from(data: dict[str, Any]) -> VersionSummary:
    """A summary from a record's plain data (no validation: listings must stay fast)."""
    fingerprint = data.get("data") or {}
    artifact = data.get("artifact") or {}
    rows = fingerprint.get("rows")
    version = data.get("version", 0)
    return VersionSummary(
        model=str(data.get("model", "")),
        version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
        created_at=str(data.get("created_at", "")),
        run_id=str(data.get("run_id", "")),
        estimator=str(data.get("estimator", "")),
        task=str(data.get("task", "")),
        metrics={str(k): _number(v) for k, v in (data.get("metrics") or {}).items()},
        gates_passed=bool(data.get("gates_passed", False)),
        data_rows=rows if isinstance(rows, int) else None,
        data_sha256=str(fingerprint.get("sha256", "")),
        artifact_sha256=str(artifact.get("sha256", "")),
        artifact_size=int(artifact.get("size", 0) or 0),
    )


TOP_FIELDS = frozenset({"model", "version", "created_at", "run_id", "estimator", "task", "gates_passed"})
BLOCK_FIELDS: dict[str, frozenset[str] | None] = {
    "metrics": None,
    "data": frozenset({"rows", "sha256"}),
    "artifact": frozenset({"sha256", "size"}),
}
"""Top-level blocks the summary needs, and which of their keys (None: all)."""
WANTED = len(TOP_FIELDS) + len(BLOCK_FIELDS)
YAML_BLANKS = " \t"
"""The only blanks YAML trims around a plain scalar (str.strip would also take a no-break space)."""
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
_SPECIAL_FLOATS = {".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan}
_SPECIAL_FLOATS.update(
    {
        f"{sign}.{inf}": sign_value * math.inf
        for inf in ("inf", "Inf", "INF")
        for sign, sign_value in (("", 1), ("+", 1), ("-", -1))
    }
)
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_RESOLVERS: dict[str | None, list[tuple[str, re.Pattern[str]]]] = yaml.resolver.Resolver.yaml_implicit_resolvers
"""PyYAML's own rules for plain scalars, first character -> (tag, pattern): the safe loader's exact view."""


class _Unsure(Exception):
    """The scanner met something it cannot read with certainty: use the YAML parser."""


def scan_summary_fields(text: str) -> dict[str, Any] | None:
    """The summary fields of a record as mlopsctl writes it (block YAML, one key per line), or None."""
    try:
        return _scan(text)
    except _Unsure:
        return None


def _scan(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    block: str | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line[0] == " " or line.startswith("- "):
            _scan_nested(line, block, found)
            continue
        if len(found) == WANTED:
            break  # everything after (signature, drift reference) is not needed
        block = _scan_top(line, found)
    if "model" not in found or "version" not in found:
        raise _Unsure
    return found


def _scan_top(line: str, found: dict[str, Any]) -> str:
    key, sep, rest = line.partition(":")
    if not sep or key[:1] in ("'", '"', "?", "&", "*", "!") or (rest and rest[0] != " "):
        raise _Unsure
    value = rest.strip(YAML_BLANKS)
    if key in BLOCK_FIELDS:
        if value == "{}":
            found[key] = {}
        elif value:
            raise _Unsure  # a flow mapping: leave it to the parser
        else:
            found[key] = {}
    elif key in TOP_FIELDS:
        found[key] = _scalar(value)
    return key


def _scan_nested(line: str, block: str | None, found: dict[str, Any]) -> None:
    if block in TOP_FIELDS:
        raise _Unsure  # a scalar continued on the next line
    if block not in BLOCK_FIELDS:
        return  # inside a block the summary does not need
    if not line.startswith("  ") or line[2] in (" ", "-", "'", '"', "?", "#"):
        raise _Unsure
    key, sep, rest = line[2:].partition(":")
    value = rest.strip(YAML_BLANKS)
    if not sep or (rest and rest[0] != " ") or not value:
        raise _Unsure
    keys = BLOCK_FIELDS[block]
    if keys is None or key in keys:
        found[block][key] = _scalar(value)


def _scalar(raw: str) -> Any:
    """A scalar exactly as the safe YAML loader reads it, or _Unsure."""
    if raw.startswith("'"):
        if len(raw) < 2 or not raw.endswith("'") or "'" in raw[1:-1].replace("''", ""):
            raise _Unsure
        return raw[1:-1].replace("''", "'")
    if raw in _NULLS:
        return None
    if raw in _BOOLS:
        return _BOOLS[raw]
    if raw in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[raw]
    if _INT.fullmatch(raw):
        return int(raw)
    if _FLOAT.fullmatch(raw):
        return float(raw)
    if raw[0] in _INDICATORS or ": " in raw or " #" in raw or raw.endswith(":"):
        raise _Unsure
    if any(pattern.match(raw) for _tag, pattern in _RESOLVERS.get(raw[0], ())):
        raise _Unsure  # an int, float, bool or timestamp in a form the writer does not produce
    return raw


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# --------------------------------------------------------------------------- the SQLite cache


@contextlib.contextmanager
def open_index(root: Path, state_dir: Path) -> Iterator[sqlite3.Connection | None]:
    """The index database, or None when it cannot be used (listing then reads every file)."""
    connection = _connect(refuse_database_links(root, state_dir / INDEX_NAME))
    try:
        yield connection
    finally:
        if connection is not None:
            connection.close()


def _connect(path: Path, *, retry: bool = True) -> sqlite3.Connection | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=2.0)
    except (OSError, sqlite3.Error):
        return None
    try:
        if connection.execute("PRAGMA user_version").fetchone()[0] != INDEX_FORMAT:
            _create(connection)
        return connection
    except sqlite3.OperationalError:  # locked by a slow writer, read-only...: go without it this time
        connection.close()
        return None
    except sqlite3.DatabaseError:  # not a database (truncated, overwritten): it is only a cache
        connection.close()
        with contextlib.suppress(OSError):
            path.unlink()
        return _connect(path, retry=False) if retry else None


def _create(connection: sqlite3.Connection) -> None:
    with connection:
        for table in ("summaries", "authors", "commits", "authors_head"):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.execute(
            "CREATE TABLE summaries (key TEXT PRIMARY KEY, model TEXT, version INTEGER, size INTEGER, "
            "mtime_ns INTEGER, created_at TEXT, run_id TEXT, estimator TEXT, task TEXT, metrics TEXT, "
            "gates_passed INTEGER, data_rows INTEGER, data_sha256 TEXT, artifact_sha256 TEXT, artifact_size INTEGER)"
        )
        connection.execute("CREATE TABLE authors (key TEXT PRIMARY KEY, commit_sha TEXT)")
        connection.execute("CREATE TABLE commits (commit_sha TEXT PRIMARY KEY, name TEXT, email TEXT, date TEXT)")
        connection.execute("CREATE TABLE authors_head (head TEXT)")
        connection.execute(f"PRAGMA user_version = {INDEX_FORMAT}")


def _read_rows(index: sqlite3.Connection | None, keys: list[str] | None) -> dict[str, tuple[Any, ...]]:
    if index is None:
        return {}
    try:
        if keys is None:
            return {row[0]: row for row in index.execute(f"SELECT {COLUMNS} FROM summaries")}
        rows: dict[str, tuple[Any, ...]] = {}
        for start in range(0, len(keys), QUERY_CHUNK):
            chunk = keys[start : start + QUERY_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows.update(
                (row[0], row) for row in index.execute(f"SELECT {COLUMNS} FROM summaries WHERE key IN ({marks})", chunk)
            )
        return rows
    except sqlite3.Error:
        return {}


def _write_rows(index: sqlite3.Connection | None, rows: list[tuple[Any, ...]], vanished: list[str]) -> None:
    """Best effort: a locked or read-only index only makes the next listing slower."""
    if index is None or not (rows or vanished):
        return
    with contextlib.suppress(sqlite3.Error), index:
        index.executemany(f"INSERT OR REPLACE INTO summaries ({COLUMNS}) VALUES ({','.join('?' * 15)})", rows)
        index.executemany("DELETE FROM summaries WHERE key = ?", [(key,) for key in vanished])


def _to_row(key: str, summary: VersionSummary, size: int, mtime_ns: int) -> tuple[Any, ...]:
    return (
        key,
        summary.model,
        summary.version,
        size,
        mtime_ns,
        summary.created_at,
        summary.run_id,
        summary.estimator,
        summary.task,
        json.dumps(summary.metrics),
        int(summary.gates_passed),
        summary.data_rows,
        summary.data_sha256,
        summary.artifact_sha256,
        summary.artifact_size,
    )


def _from_row(row: tuple[Any, ...]) -> VersionSummary:
    return VersionSummary(
        model=row[1],
        version=row[2],
        created_at=row[5],
        run_id=row[6],
        estimator=row[7],
        task=row[8],
        metrics=json.loads(row[9]),
        gates_passed=bool(row[10]),
        data_rows=row[11],
        data_sha256=row[12],
        artifact_sha256=row[13],
        artifact_size=row[14],
    )
