"""The run store: one SQLite database (``repo.metadata_db``) holding every training run.

A run is written when it starts (status RUNNING), and again when it ends (FINISHED or FAILED),
so a run that crashes or is killed is still there. A run whose process is gone but whose row
still says RUNNING is *stale*; readers mark it FAILED with the error ``interrupted`` the next
time they look (only for runs started on this host, where the process can be checked), so
``runs list`` never shows a dead run as running forever.

The database uses WAL journaling and a busy timeout, so two runs (or a run and a reader) can
work at the same time, and carries a schema version (``PRAGMA user_version``) so later releases
can migrate it (version 2 adds each run's data-check warnings and its comparison with what the
environments run). It is created on first use inside the repository's git-ignored state folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlopsctl.errors import MlopsError, NotFound, UsageError
from mlopsctl.state_links import refuse_database_links, repository_of

RUNNING = "RUNNING"
FINISHED = "FINISHED"
FAILED = "FAILED"
INTERRUPTED = "interrupted"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_SECONDS = 30.0

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            started REAL NOT NULL,
            duration REAL,
            estimator TEXT NOT NULL,
            params TEXT NOT NULL,
            overrides TEXT NOT NULL,
            metrics TEXT NOT NULL,
            gates TEXT NOT NULL,
            gates_passed INTEGER,
            data TEXT,
            spec_sha256 TEXT,
            git_commit TEXT,
            git_dirty INTEGER NOT NULL,
            environment TEXT NOT NULL,
            grid TEXT,
            version INTEGER,
            error TEXT,
            artifacts TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            pid_started TEXT
        )
        """,
        "CREATE INDEX runs_by_model ON runs (model, started)",
        "CREATE INDEX runs_by_status ON runs (status)",
    ),
    2: (
        "ALTER TABLE runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE runs ADD COLUMN comparison TEXT",
    ),
}
_JSON_COLUMNS = (
    "params",
    "overrides",
    "metrics",
    "gates",
    "data",
    "environment",
    "grid",
    "artifacts",
    "warnings",
    "comparison",
)
_BOOL_COLUMNS = ("git_dirty", "gates_passed")


@dataclass
class Run:
    """One training run as stored."""

    id: str
    model: str
    kind: str
    """train, grid (a hyperparameter grid as one experiment) or reproduce."""
    status: str
    started: float
    """Unix time the run started."""
    estimator: str
    params: dict[str, Any]
    git_dirty: bool
    environment: dict[str, Any]
    host: str
    pid: int
    overrides: list[str] = field(default_factory=list)
    duration: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    gates_passed: bool | None = None
    data: dict[str, Any] | None = None
    spec_sha256: str | None = None
    git_commit: str | None = None
    grid: list[dict[str, Any]] | None = None
    version: int | None = None
    error: str | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)
    pid_started: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    """Data checks that passed with a warning (e.g. a feature with one value in every row)."""
    comparison: dict[str, Any] | None = None
    """The new metrics against the version each environment runs, and the champion's verdict."""

    @property
    def started_iso(self) -> str:
        return datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["started"] = self.started_iso
        out.pop("pid_started")
        return out


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class RunStore:
    """Reads and writes runs in the SQLite database at ``path`` (created on first use)."""

    def __init__(self, path: Path, *, repo_root: Path | None = None) -> None:
        self.path = path
        _refuse_links_to(path, repo_root)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise _unreadable(path, exc) from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def _migrate(self) -> None:
        current = self._schema_version()
        if current > SCHEMA_VERSION:
            raise MlopsError(
                f"the runs database {self.path} has schema version {current}; this mlopsctl knows {SCHEMA_VERSION}",
                title="Runs database too new",
                hint="upgrade mlopsctl, or point metadata_store in mlops.yaml at another file",
            )
        if current == SCHEMA_VERSION:
            return
        with self._write():
            for version in range(self._schema_version() + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {version}")

    def _schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken before reading so concurrent writers queue up."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ writing

    def start(self, run: Run) -> Run:
        """Insert ``run`` (normally status RUNNING) and return it."""
        row = _to_row(run)
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._guard(), self._write():
            self._db.execute(f"INSERT INTO runs ({names}) VALUES ({marks})", tuple(row.values()))
        return run

    def update(self, run_id: str, **fields: Any) -> None:
        """Set ``fields`` (Run attribute names) on the run."""
        row = _to_row_fields(fields)
        assignments = ", ".join(f"{name} = ?" for name in row)
        with self._guard(), self._write():
            self._db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*row.values(), run_id))

    def fail(self, run_id: str, error: str, duration: float | None) -> None:
        self.update(run_id, status=FAILED, error=error, duration=duration)

    # ------------------------------------------------------------------ reading

    def get(self, ref: str) -> Run:
        """The run with id ``ref``, or the only one whose id starts with it."""
        self.reconcile()
        with self._guard():
            rows = self._db.execute(
                "SELECT * FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY started",
                (ref, _like_prefix(ref)),
            ).fetchall()
        exact = [row for row in rows if row["id"] == ref]
        if exact or len(rows) == 1:
            return _from_row((exact or rows)[0])
        if not rows:
            raise NotFound(f"no run '{ref}' in {self.path}", hint="list runs with: mlopsctl runs list")
        listing = ", ".join(row["id"] for row in rows[:5])
        raise UsageError(
            f"run '{ref}' is ambiguous: it starts {len(rows)} run ids ({listing})", hint="give more of the id"
        )

    def list_runs(self, model: str | None = None, limit: int | None = None) -> list[Run]:
        """Runs, newest first, optionally of one model."""
        self.reconcile()
        query = "SELECT * FROM runs"
        args: list[Any] = []
        if model is not None:
            query += " WHERE model = ?"
            args.append(model)
        query += " ORDER BY started DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._guard():
            return [_from_row(row) for row in self._db.execute(query, args).fetchall()]

    def reconcile(self) -> list[str]:
        """Mark RUNNING runs of this host whose process is gone as FAILED (interrupted); returns their ids."""
        host = socket.gethostname()
        with self._guard():
            rows = self._db.execute(
                "SELECT id, pid, pid_started, started FROM runs WHERE status = ? AND host = ?", (RUNNING, host)
            ).fetchall()
        stale = [row for row in rows if not process_alive(int(row["pid"]), row["pid_started"])]
        for row in stale:
            self.update(
                row["id"],
                status=FAILED,
                error=f"{INTERRUPTED}: the process (pid {row['pid']}) ended before the run finished",
            )
        return [row["id"] for row in stale]

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        self._db.row_factory = sqlite3.Row
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise MlopsError(
                    f"the runs database {self.path} stayed locked for {BUSY_TIMEOUT_SECONDS:.0f} s",
                    title="Runs database busy",
                    hint="another mlopsctl process holds it; try again when it is done",
                ) from exc
            raise _unreadable(self.path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self.path, exc) from exc


def _refuse_links_to(path: Path, repo_root: Path | None) -> None:
    """Refuse a database reached through a symbolic link in the repository (``.mlops -> /elsewhere``).

    Callers that do not name the repository get the one holding mlops.yaml above ``path``.
    """
    root = repo_root if repo_root is not None else repository_of(path)
    if root is not None:
        refuse_database_links(root, path)


def _unreadable(path: Path, exc: Exception) -> MlopsError:
    return MlopsError(
        f"the runs database {path} is unreadable: {exc}",
        title="Runs database unreadable",
        hint="move the file aside; a new, empty one is created on the next run",
    )


def _like_prefix(ref: str) -> str:
    escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _to_row(run: Run) -> dict[str, Any]:
    return _to_row_fields(asdict(run))


def _to_row_fields(fields: dict[str, Any]) -> dict[str, Any]:
    known = set(Run.__dataclass_fields__)
    unknown = set(fields) - known
    if unknown:
        raise TypeError(f"not run fields: {sorted(unknown)}")
    row: dict[str, Any] = {}
    for name, value in fields.items():
        if name in _JSON_COLUMNS:
            row[name] = None if value is None else json.dumps(value, sort_keys=False, default=_json_default)
        elif name in _BOOL_COLUMNS:
            row[name] = None if value is None else int(bool(value))
        else:
            row[name] = value
    return row


def _json_default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    return str(value)


def _from_row(row: sqlite3.Row) -> Run:
    values: dict[str, Any] = {}
    for name in row.keys():  # noqa: SIM118 - sqlite3.Row is not a mapping
        value = row[name]
        if name in _JSON_COLUMNS and value is not None:
            value = json.loads(value)
        elif name in _BOOL_COLUMNS and value is not None:
            value = bool(value)
        values[name] = value
    values["overrides"] = values.get("overrides") or []
    values["warnings"] = values.get("warnings") or []
    return Run(**values)


# --------------------------------------------------------------------------- process liveness


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (Linux), or None elsewhere or when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def process_start_token(pid: int) -> str | None:
    """Start time of process ``pid`` since boot (Linux), so a recycled pid is not mistaken for the run."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def process_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):  # a zombie has ended; only its exit status is left to collect
        return False
    return started is None or fields[19] == started


def this_process() -> tuple[str, int, str | None]:
    """Host name, pid and start token of the current process, recorded with a run."""
    pid = os.getpid()
    return socket.gethostname(), pid, process_start_token(pid)


def now() -> float:
    return time.time()
