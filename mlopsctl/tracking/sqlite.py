"""The run store's default backend: one SQLite file, ``<state_dir>/runs.db``, on this machine.

The database uses WAL journaling and a busy timeout, so two runs (or a run and a reader) can work
at the same time, and carries a schema version (``PRAGMA user_version``) that later releases
migrate (version 2 adds each run's data-check warnings and its comparison with what the
environments run). It is created on first use inside the repository's git-ignored state folder.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlopsctl.errors import MlopsError
from mlopsctl.state_links import refuse_database_links, repository_of
from mlopsctl.tracking.sql import Row, SqlRows

SCHEMA_VERSION = 2
BUSY_TIMEOUT_SECONDS = 30.0

MIGRATIONS: dict[int, tuple[str, ...]] = {
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
"""Schema versions; the PostgreSQL backend mirrors the same numbers and columns."""


def _dict_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}


class SQLiteBackend(SqlRows):
    """Rows of the ``runs`` table in the SQLite file at ``path`` (created on first use)."""

    def __init__(self, path: Path, *, repo_root: Path | None = None) -> None:
        self.path = path
        self.where = str(path)
        _refuse_links_to(path, repo_root)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.row_factory = _dict_row
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise _unreadable(path, exc) from exc

    def close(self) -> None:
        self._db.close()

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
                for statement in MIGRATIONS[version]:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {version}")

    def _schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()["user_version"])

    def _one_write(self) -> contextlib.AbstractContextManager[None]:
        return self._write()

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

    # ------------------------------------------------------------------ rows

    def insert_new(self, rows: list[Row]) -> int:
        """Insert the rows whose id is not here yet; returns how many were inserted."""
        inserted = 0
        with self._guard(), self._write():
            for row in rows:
                statement = self._insert_sql(row).replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)
                cursor = self._db.execute(statement, tuple(row.values()))
                inserted += cursor.rowcount
        return inserted

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
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
