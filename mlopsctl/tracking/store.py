"""The run store: every training run, in a SQLite file on this machine or a PostgreSQL database the team shares.

``RunStore(repo.metadata_db)`` opens whichever ``metadata_store`` names: a path (the default,
``<state_dir>/runs.db``, :mod:`mlopsctl.tracking.sqlite`) or a ``postgresql://`` URI
(:mod:`mlopsctl.tracking.postgres`). Both hold the same table at the same schema version and
upgrade it themselves; everything above the rows (runs, prefixes, stale runs) is here, once.

A run is written when it starts (status RUNNING), and again when it ends (FINISHED or FAILED),
so a run that crashes or is killed is still there. A run whose process is gone but whose row
still says RUNNING is *stale*; readers mark it FAILED with the error ``interrupted`` the next
time they look, only for runs started on this host (the host name is recorded with each run),
where the process can be checked: a teammate's run in a shared store is never touched.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mlopsctl.errors import NotFound, UsageError
from mlopsctl.spec.database_uri import DatabaseURI, uri_scheme
from mlopsctl.tracking.sqlite import BUSY_TIMEOUT_SECONDS, MIGRATIONS as _MIGRATIONS, SCHEMA_VERSION, SQLiteBackend

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "FAILED",
    "FINISHED",
    "RUNNING",
    "SCHEMA_VERSION",
    "_MIGRATIONS",
    "Run",
    "RunStore",
    "new_run_id",
    "now",
    "this_process",
]

RUNNING = "RUNNING"
FINISHED = "FINISHED"
FAILED = "FAILED"
INTERRUPTED = "interrupted"
Row = dict[str, Any]
StoreLocation = Path | DatabaseURI | str
"""What :class:`RunStore` opens: a SQLite path, or a database URI (a plain ``str`` URI is not the runner's choice)."""

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


class RunBackend(Protocol):
    """Rows of the ``runs`` table in one database (SQLite or PostgreSQL)."""

    where: str
    """The store as messages name it: a path, or postgresql://HOST:PORT/DATABASE."""

    def insert(self, row: Row) -> None: ...
    def update(self, run_id: str, row: Row) -> None: ...
    def matching(self, ref: str, like_prefix: str) -> list[Row]: ...
    def select(self, model: str | None, limit: int | None) -> list[Row]: ...
    def running_on(self, host: str, status: str) -> list[Row]: ...
    def insert_new(self, rows: list[Row]) -> int: ...
    def close(self) -> None: ...


def open_backend(location: StoreLocation, repo_root: Path | None = None) -> RunBackend:
    """The backend for ``location``; psycopg is imported only when a database URI is given."""
    if isinstance(location, str):
        location = DatabaseURI(location) if uri_scheme(location) else Path(location)
    if isinstance(location, DatabaseURI):
        from mlopsctl.tracking.postgres import PostgresBackend

        return PostgresBackend(location)
    return SQLiteBackend(location, repo_root=repo_root)


class RunStore:
    """Reads and writes runs in the store at ``location`` (a SQLite file is created on first use)."""

    def __init__(self, location: StoreLocation, *, repo_root: Path | None = None) -> None:
        self._backend = open_backend(location, repo_root)
        self.where = self._backend.where

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def start(self, run: Run) -> Run:
        """Insert ``run`` (normally status RUNNING) and return it."""
        self._backend.insert(_to_row(run))
        return run

    def update(self, run_id: str, **fields: Any) -> None:
        """Set ``fields`` (Run attribute names) on the run."""
        self._backend.update(run_id, _to_row_fields(fields))

    def fail(self, run_id: str, error: str, duration: float | None) -> None:
        self.update(run_id, status=FAILED, error=error, duration=duration)

    # ------------------------------------------------------------------ reading

    def get(self, ref: str) -> Run:
        """The run with id ``ref``, or the only one whose id starts with it."""
        self.reconcile()
        rows = self._backend.matching(ref, _like_prefix(ref))
        exact = [row for row in rows if row["id"] == ref]
        if exact or len(rows) == 1:
            return _from_row((exact or rows)[0])
        if not rows:
            raise NotFound(f"no run '{ref}' in {self.where}", hint="list runs with: mlopsctl runs list")
        listing = ", ".join(row["id"] for row in rows[:5])
        raise UsageError(
            f"run '{ref}' is ambiguous: it starts {len(rows)} run ids ({listing})", hint="give more of the id"
        )

    def list_runs(self, model: str | None = None, limit: int | None = None) -> list[Run]:
        """Runs, newest first, optionally of one model."""
        self.reconcile()
        return [_from_row(row) for row in self._backend.select(model, limit)]

    def reconcile(self) -> list[str]:
        """Mark RUNNING runs of this host whose process is gone as FAILED (interrupted); returns their ids."""
        rows = self._backend.running_on(socket.gethostname(), RUNNING)
        stale = [row for row in rows if not process_alive(int(row["pid"]), row["pid_started"])]
        for row in stale:
            self.update(
                row["id"],
                status=FAILED,
                error=f"{INTERRUPTED}: the process (pid {row['pid']}) ended before the run finished",
            )
        return [row["id"] for row in stale]

    # ------------------------------------------------------------------ copying between stores

    def rows(self) -> list[Row]:
        """Every run as stored (for copying to another store unchanged)."""
        return self._backend.select(None, None)

    def add_missing(self, rows: list[Row]) -> int:
        """Insert the runs whose id is not in this store yet; returns how many were copied."""
        return self._backend.insert_new(rows)


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


def _from_row(row: Row) -> Run:
    values: dict[str, Any] = {}
    for name, value in row.items():
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
