"""Runs databases written before issue 13 (schema 1) gain each run's data-check warnings and comparison.

The migration adds two columns; runs already recorded read back with no warnings and no comparison,
and new runs carry both.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mlopsctl.tracking.store import _MIGRATIONS, FINISHED, SCHEMA_VERSION, Run, RunStore, now, this_process

WARNING = {"dimension": "consistency", "check": "constant", "column": "pixel_0_0", "status": "WARN"}


def schema_one_database(path: Path) -> None:
    """A database as the first release wrote it, holding one finished run."""
    host, pid, started = this_process()
    with sqlite3.connect(path) as connection:
        for statement in _MIGRATIONS[1]:
            connection.execute(statement)
        connection.execute("PRAGMA user_version = 1")
        connection.execute(
            "INSERT INTO runs (id, model, kind, status, started, estimator, params, overrides, metrics, gates, "
            "git_dirty, environment, artifacts, host, pid, pid_started) "
            "VALUES ('old111', 'digits', 'train', ?, ?, 'E', '{}', '[]', '{}', '[]', 0, '{}', '{}', ?, ?, ?)",
            (FINISHED, now(), host, pid, started),
        )


def test_a_schema_one_database_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    schema_one_database(path)
    with RunStore(path) as store:
        old = store.get("old111")
        assert (old.warnings, old.comparison) == ([], None)
        host, pid, started = this_process()
        store.start(
            Run("new222", "digits", "train", FINISHED, now(), "E", {}, False, {}, host, pid, pid_started=started)
        )
        store.update("new222", warnings=[WARNING], comparison={"primary": "accuracy", "champion": None})
        new = store.get("new222")
    assert new.warnings == [WARNING]
    assert new.comparison == {"primary": "accuracy", "champion": None}
    assert new.to_dict()["warnings"] == [WARNING]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
