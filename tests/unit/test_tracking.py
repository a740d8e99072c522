"""The SQLite run store: schema, round trips, lookups, concurrent writers and runs whose process died."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.errors import MlopsError, NotFound, UsageError
from mlopsctl.tracking.compare import compare_runs
from mlopsctl.tracking.environment import capture_environment
from mlopsctl.tracking.store import FAILED, FINISHED, RUNNING, SCHEMA_VERSION, Run, RunStore, now, this_process


def make_run(run_id: str, model: str = "churn", **changes: Any) -> Run:
    host, pid, started = this_process()
    fields: dict[str, Any] = {
        "id": run_id,
        "model": model,
        "kind": "train",
        "status": RUNNING,
        "started": now(),
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"C": 1.0},
        "git_dirty": False,
        "environment": {"python": "3.11"},
        "host": host,
        "pid": pid,
        "pid_started": started,
    }
    fields.update(changes)
    return Run(**fields)


def test_database_is_created_with_wal_and_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "state" / "runs.db"
    with RunStore(path):
        pass
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with RunStore(path) as store:  # opening again migrates nothing and keeps the rows
        assert store.list_runs() == []


def test_runs_round_trip(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start(make_run("aaa111", overrides=["training.params.C=2"]))
        store.update(
            run.id,
            status=FINISHED,
            duration=1.5,
            metrics={"accuracy": 0.9},
            gates=[{"gate": "accuracy >= 0.8", "value": 0.9, "passed": True}],
            gates_passed=True,
            data={"uri": "data/x.csv", "sha256": "ab"},
            grid=[{"params": {"C": 1.0}, "cv_score": 0.8, "rank": 1}],
            version=3,
            artifacts={"record": "registry/churn/v3.yaml"},
        )
        loaded = store.get("aaa111")
    assert loaded.status == FINISHED
    assert loaded.metrics == {"accuracy": 0.9}
    assert loaded.gates_passed is True
    assert loaded.git_dirty is False
    assert loaded.overrides == ["training.params.C=2"]
    assert loaded.grid == [{"params": {"C": 1.0}, "cv_score": 0.8, "rank": 1}]
    assert loaded.version == 3
    assert loaded.to_dict()["started"].endswith("Z")
    assert "pid_started" not in loaded.to_dict()


def test_get_by_prefix_unknown_and_ambiguous(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        store.start(make_run("abc123"))
        store.start(make_run("abd456"))
        store.start(make_run("a_c999"))
        assert store.get("abc").id == "abc123"
        assert store.get("a_").id == "a_c999"  # LIKE wildcards in a prefix are literal
        with pytest.raises(NotFound) as missing:
            store.get("zz")
        assert missing.value.message == f"no run 'zz' in {tmp_path / 'runs.db'}"
        with pytest.raises(UsageError) as ambiguous:
            store.get("ab")
        assert ambiguous.value.message == "run 'ab' is ambiguous: it starts 2 run ids (abc123, abd456)"


def test_list_filters_by_model_newest_first(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        store.start(make_run("r1", started=100.0, pid=0, host="elsewhere"))
        store.start(make_run("r2", model="other", started=200.0, host="elsewhere"))
        store.start(make_run("r3", started=300.0, host="elsewhere"))
        assert [run.id for run in store.list_runs()] == ["r3", "r2", "r1"]
        assert [run.id for run in store.list_runs("churn")] == ["r3", "r1"]
        assert [run.id for run in store.list_runs(limit=1)] == ["r3"]


def test_stale_running_rows_become_failed_interrupted(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    zombie_pid = zombie.pid
    with RunStore(tmp_path / "runs.db") as store:
        store.start(make_run("mine"))
        store.start(make_run("gone", pid=finished.pid, pid_started=None))
        store.start(make_run("recycled", pid=1, pid_started="0"))  # pid 1 exists, but started at another time
        store.start(make_run("remote", host="another-host", pid=finished.pid))
        _wait_until_zombie(zombie_pid)
        store.start(make_run("zombie", pid=zombie_pid, pid_started=None))
        status = {run.id: (run.status, run.error) for run in store.list_runs()}
    zombie.wait()
    assert status["mine"] == (RUNNING, None)
    assert status["remote"] == (RUNNING, None)  # another host's process cannot be checked from here
    assert status["gone"] == (FAILED, f"interrupted: the process (pid {finished.pid}) ended before the run finished")
    assert status["recycled"] == (FAILED, "interrupted: the process (pid 1) ended before the run finished")
    assert status["zombie"][0] == FAILED


def _wait_until_zombie(pid: int) -> None:
    for _ in range(200):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.01)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(MlopsError) as caught:
        RunStore(path)
    assert caught.value.title == "Runs database too new"
    assert caught.value.message == (
        f"the runs database {path} has schema version {SCHEMA_VERSION + 1}; this mlopsctl knows {SCHEMA_VERSION}"
    )


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MlopsError) as caught:
        RunStore(path)
    assert caught.value.message == f"the runs database {path} is unreadable: file is not a database"
    assert caught.value.hint == "move the file aside; a new, empty one is created on the next run"


def _write_runs(path: str, prefix: str, count: int) -> None:
    with RunStore(Path(path)) as store:
        for i in range(count):
            run = store.start(make_run(f"{prefix}{i:03d}", host="elsewhere"))
            store.update(run.id, status=FINISHED, metrics={"i": i})


def test_concurrent_writers_all_land(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    RunStore(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_runs, args=(str(path), prefix, 40)) for prefix in ("a", "b", "c")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    with RunStore(path) as store:
        runs = store.list_runs()
    assert len(runs) == 120
    assert {run.status for run in runs} == {FINISHED}


def test_compare_keeps_only_differences() -> None:
    first = make_run("one", params={"C": 1.0, "max_iter": 100}, metrics={"accuracy": 0.9, "f1": 0.5})
    second = make_run("two", params={"C": 2.0, "max_iter": 100, "tol": 0.1}, metrics={"accuracy": 0.9, "f1": 0.6})
    second.data = {"uri": "data/x.csv", "sha256": "ff"}
    comparison = compare_runs([first, second])
    assert comparison.params == {"C": [1.0, 2.0], "tol": [None, 0.1]}
    assert comparison.metrics == {"f1": [0.5, 0.6]}
    assert comparison.other == {"data": [None, "data/x.csv"], "data_sha256": [None, "ff"]}
    assert compare_runs([first, first]).identical


def test_environment_names_python_and_packages() -> None:
    environment = capture_environment()
    assert environment["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(environment["packages"]) == {"numpy", "scipy", "scikit-learn", "pandas", "skops", "mlopsctl"}
    assert all(environment["packages"].values())
