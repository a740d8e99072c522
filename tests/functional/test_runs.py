"""``mlopsctl runs list|show|compare`` over real tracked runs, and runs that die mid-way."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.registry.records import version_numbers
from mlopsctl.spec.loader import open_repo
from tests.support.train_repo import git, sk_repo, train_json

__all__ = ["sk_repo"]


def runs(cli: Any, root: Path, *args: str) -> Any:
    return cli("--repo", str(root), "runs", *args)


def runs_json(cli: Any, root: Path, *args: str) -> Any:
    result = runs(cli, root, *args, "-o", "json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def two_runs(cli: Any, sk_repo: Path) -> tuple[str, str]:
    first = train_json(cli, sk_repo, "cancer", "--set", "training.params.n_estimators=10", "--no-register")
    second = train_json(
        cli, sk_repo, "cancer", "--set", "training.params.n_estimators=10", "--set", "training.params.max_depth=2"
    )
    return first["run_id"], second["run_id"]


def test_list_shows_runs_newest_first(cli: Any, sk_repo: Path, two_runs: tuple[str, str]) -> None:
    first, second = two_runs
    train_json(cli, sk_repo, "diabetes", "--no-register")
    listed = runs_json(cli, sk_repo, "list")["runs"]
    assert [run["model"] for run in listed] == ["diabetes", "cancer", "cancer"]
    assert [run["id"] for run in listed[1:]] == [second, first]
    assert [run["version"] for run in listed[1:]] == [1, None]
    assert {run["status"] for run in listed} == {"FINISHED"}

    only = runs_json(cli, sk_repo, "list", "cancer")["runs"]
    assert [run["id"] for run in only] == [second, first]
    table = runs(cli, sk_repo, "list", "cancer")
    assert table.code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["run", "model", "status", "started", "duration", "version", "result"]
    assert lines[1].startswith(second) and " v1 " in lines[1]
    assert lines[2].startswith(first) and "FINISHED" in lines[2]


def test_list_without_runs(cli: Any, sk_repo: Path) -> None:
    result = runs(cli, sk_repo, "list", "cancer")
    assert result.code == 0
    assert result.stdout == "no runs of cancer yet; start one with: mlopsctl train cancer\n"


def test_show_records_everything_about_a_run(cli: Any, sk_repo: Path, two_runs: tuple[str, str]) -> None:
    _, second = two_runs
    shown = runs_json(cli, sk_repo, "show", second[:6])
    assert shown["id"] == second
    assert shown["model"] == "cancer"
    assert shown["kind"] == "train"
    assert shown["status"] == "FINISHED"
    assert shown["estimator"] == "sklearn.ensemble.RandomForestClassifier"
    assert shown["params"] == {"n_estimators": 10, "max_depth": 2, "n_jobs": 1, "random_state": 7}
    assert shown["overrides"] == ["training.params.n_estimators=10", "training.params.max_depth=2"]
    assert shown["spec_sha256"] == hashlib.sha256((sk_repo / "models/cancer/model.yaml").read_bytes()).hexdigest()
    assert shown["git_commit"] == git(sk_repo, "rev-parse", "HEAD^")  # HEAD is the registration
    assert shown["git_dirty"] is False
    assert shown["data"]["uri"] == "data/cancer.csv" and shown["data"]["rows"] == 569
    assert set(shown["environment"]["packages"]) == {"numpy", "scipy", "scikit-learn", "pandas", "skops", "mlopsctl"}
    assert shown["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert shown["version"] == 1
    assert shown["artifacts"]["record"].endswith("registry/cancer/v1.yaml")
    assert shown["duration"] > 0
    assert [gate["gate"] for gate in shown["gates"]] == ["roc_auc >= 0.9", "p95_latency_ms <= 600000"]

    table = runs(cli, sk_repo, "show", second)
    assert f"Run {second}  cancer  FINISHED  (train)" in table.stdout
    assert "training.params.n_estimators=10 training.params.max_depth=2" in table.stdout


def test_show_grid_run_lists_candidates(cli: Any, sk_repo: Path) -> None:
    run_id = train_json(cli, sk_repo, "diabetes", "--grid", "--no-register")["run_id"]
    table = runs(cli, sk_repo, "show", run_id)
    assert "grid (3 candidates, by cross-validated score)" in table.stdout
    shown = runs_json(cli, sk_repo, "show", run_id)
    assert shown["kind"] == "grid"
    assert [candidate["params"] for candidate in shown["grid"]] == [{"alpha": 0.1}, {"alpha": 1.0}, {"alpha": 10.0}]
    assert sorted(candidate["rank"] for candidate in shown["grid"]) == [1, 2, 3]


def test_show_unknown_and_ambiguous_runs(cli: Any, sk_repo: Path, two_runs: tuple[str, str]) -> None:
    db = open_repo(sk_repo).metadata_db
    missing = runs(cli, sk_repo, "show", "zzzz")
    assert missing.code == 1
    assert missing.stderr == f"error: Not found: no run 'zzzz' in {db}\nhint: list runs with: mlopsctl runs list\n"
    with sqlite3.connect(db) as connection:  # give both runs ids with a common prefix
        connection.execute("UPDATE runs SET id = 'abc' || substr(id, 4)")
    ambiguous = runs(cli, sk_repo, "show", "abc")
    assert ambiguous.code == 2
    assert ambiguous.stderr.startswith("error: Usage error: run 'abc' is ambiguous: it starts 2 run ids (abc")
    assert ambiguous.stderr.endswith("hint: give more of the id\n")


def test_compare_shows_only_what_differs(cli: Any, sk_repo: Path, two_runs: tuple[str, str]) -> None:
    first, second = two_runs
    compared = runs_json(cli, sk_repo, "compare", first, second)
    assert compared["runs"] == [first, second]
    assert compared["params"] == {"max_depth": [4, 2]}
    assert "roc_auc" in compared["metrics"]
    assert compared["metrics"]["roc_auc"][0] != compared["metrics"]["roc_auc"][1]
    assert compared["other"] == {"version": [None, 1]}  # same data, same commit, same estimator

    table = runs(cli, sk_repo, "compare", first[:8], second[:8])
    assert table.code == 0
    header = table.stdout.splitlines()[0].split()
    assert header == [first, second]
    assert any(line.split() == ["max_depth", "4", "2"] for line in table.stdout.splitlines())
    assert "n_estimators" not in table.stdout


def test_compare_notes_changed_data_and_commit(cli: Any, sk_repo: Path) -> None:
    first = train_json(cli, sk_repo, "diabetes", "--no-register")["run_id"]
    path = sk_repo / "data" / "diabetes.csv"
    path.write_text("\n".join(path.read_text().splitlines()[:-5]) + "\n")
    git(sk_repo, "commit", "-qam", "drop rows")
    second = train_json(cli, sk_repo, "diabetes", "--no-register")["run_id"]
    compared = runs_json(cli, sk_repo, "compare", first, second)
    assert compared["params"] == {}
    assert set(compared["other"]) == {"data_sha256", "commit"}


def test_compare_needs_two_runs(cli: Any, sk_repo: Path, two_runs: tuple[str, str]) -> None:
    result = runs(cli, sk_repo, "compare", two_runs[0])
    assert result.code == 2
    assert result.stderr == (
        "error: Usage error: runs compare needs at least two runs\nhint: e.g. mlopsctl runs compare 3f9a1c 7b2e04\n"
    )
    same = runs(cli, sk_repo, "compare", two_runs[0], two_runs[0])
    assert same.stdout == f"runs {two_runs[0]}, {two_runs[0]}: same params, metrics, data and commit\n"


@pytest.mark.slow
def test_a_killed_run_is_shown_as_interrupted(cli: Any, sk_repo: Path) -> None:
    """kill -9 mid-training: the row stays, and the next reader marks it FAILED (interrupted)."""
    db = open_repo(sk_repo).metadata_db
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlopsctl",
            "--repo",
            str(sk_repo),
            "train",
            "cancer",
            "--grid",
            "--set",
            "training.grid.n_estimators=[100, 200, 300, 400]",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _has_running_row(db):
            time.sleep(0.05)
        assert _has_running_row(db), "the run never started"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    (run,) = runs_json(cli, sk_repo, "list")["runs"]
    assert run["status"] == "FAILED"
    assert run["error"] == f"interrupted: the process (pid {proc.pid}) ended before the run finished"
    assert version_numbers(sk_repo, "cancer") == []


def _has_running_row(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            return bool(connection.execute("SELECT count(*) FROM runs WHERE status = 'RUNNING'").fetchone()[0])
    except sqlite3.OperationalError:
        return False


@pytest.mark.slow
def test_two_runs_at_once_register_distinct_versions(sk_repo: Path) -> None:
    command = [sys.executable, "-m", "mlopsctl", "--repo", str(sk_repo), "train", "diabetes", "-o", "json"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    versions = sorted(json.loads(out)["version"] for out, _ in outputs)
    assert versions == [1, 2]
    assert version_numbers(sk_repo, "diabetes") == [1, 2]
    assert git(sk_repo, "status", "--porcelain") == ""
    with sqlite3.connect(open_repo(sk_repo).metadata_db) as connection:
        rows = connection.execute("SELECT status, version FROM runs ORDER BY version").fetchall()
    assert rows == [("FINISHED", 1), ("FINISHED", 2)]


def test_runs_stay_readable_while_a_spec_is_broken(cli: Any, sk_repo: Path) -> None:
    run_id = train_json(cli, sk_repo, "diabetes", "--no-register")["run_id"]
    spec = sk_repo / "models" / "cancer" / "model.yaml"
    spec.write_text(spec.read_text().replace("task: classification", "task: clasification"))
    assert cli("--repo", str(sk_repo), "train", "diabetes").code == 1  # training refuses the broken repo
    assert [run["id"] for run in runs_json(cli, sk_repo, "list")["runs"]] == [run_id]


def test_the_runs_database_location_comes_from_mlops_yaml_with_the_users_opt_in(
    cli: Any, sk_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_DATA_ALLOW_OUTSIDE_REPO", "1")  # a store outside the repo is the user's choice
    shared = tmp_path / "shared" / "meta.db"
    settings = sk_repo / "mlops.yaml"
    settings.write_text(settings.read_text() + f"metadata_store: {shared}\n")
    run_id = train_json(cli, sk_repo, "diabetes", "--no-register")["run_id"]
    assert shared.is_file()
    assert not (sk_repo / ".mlops" / "runs.db").exists()
    assert runs_json(cli, sk_repo, "show", run_id)["id"] == run_id
