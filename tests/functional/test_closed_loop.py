"""The first half of the loop through ``mlopsctl serve``: answers logged, labels from a file with
``mlopsctl feedback``, live accuracy judged in ``mlopsctl status``, and ``mlopsctl explain`` on an id
from a rotated log file."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.serve.predlog import log_files, serve_folder
from tests.support.predlog import post_json, wait_logged
from tests.support.serve_process import read_json_object, register, start_serve
from tests.support.services import free_port
from tests.support.serving import Fitted, churn_fitted, records_of
from tests.support.status_repo import set_environment, set_monitoring

pytestmark = pytest.mark.slow


@dataclass
class Served:
    root: Path
    url: str
    fit: Fitted
    folder: Path


@pytest.fixture(scope="module")
def churn() -> Fitted:
    return churn_fitted()


@pytest.fixture
def served(model_repo: Path, churn: Fitted) -> Iterator[Served]:
    """churn@1 served by ``mlopsctl serve`` with live accuracy (10m, 20 labels minimum), staging points at it."""
    register(model_repo, churn)
    performance = {"metric": "accuracy", "warn_below": 0.9, "crit_below": 0.75}
    set_monitoring(model_repo, window="10m", min_observations=20, performance=performance)
    set_prediction_log(model_repo, max_bytes=1_048_576, keep_files=3)
    port = free_port()
    process = start_serve(model_repo, "churn@1", port)
    try:
        info = read_json_object(process)
        set_environment(model_repo, "staging", {"churn": {"version": 1, "port": port}})
        yield Served(model_repo, info["url"], churn, serve_folder(model_repo / ".mlops", "churn"))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


def set_prediction_log(root: Path, **values: Any) -> None:
    path = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["serving"]["prediction_log"] = values
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def predict_rows(served: Served, start: int, count: int) -> list[tuple[str, int]]:
    answers = []
    for index, row in enumerate(records_of(served.fit.frame.iloc[start : start + count]), start=start):
        status, headers, body = post_json(served.url, "/predict", {"record": row}, {"X-Request-Id": f"req-{index}"})
        assert status == 200, body
        answers.append((headers["x-request-id"], body["predictions"][0]))
    return answers


def write_csv(path: Path, rows: list[tuple[str, Any]]) -> Path:
    path.write_text("id,label\n" + "".join(f"{request_id},{label}\n" for request_id, label in rows))
    return path


def performance_check(cli: Any, root: Path) -> tuple[int, dict[str, Any]]:
    result = cli("status", "--repo", str(root), "--env", "staging", "-o", "json")
    (deployment,) = json.loads(result.stdout)["deployments"]
    found = {check["name"]: check for check in deployment["checks"]}
    return result.code, found["performance"]


def test_labels_from_a_file_move_live_accuracy_in_status(cli: Any, served: Served, tmp_path: Path) -> None:
    code, check = performance_check(cli, served.root)
    assert (code, check["state"], check["reason"]) == (
        0,
        "UNKNOWN",
        "live accuracy: not enough labels (0 < 20) over 10m",
    )

    agreeing = predict_rows(served, 0, 30)
    result = cli(
        "feedback", str(write_csv(tmp_path / "a.csv", agreeing)), "--repo", str(served.root), "--env", "staging"
    )
    assert (result.code, result.stdout) == (0, f"30 of 30 labels accepted by {served.url}\n")
    code, check = performance_check(cli, served.root)
    assert (check["state"], check["value"]) == ("OK", 1.0)  # (30 rows: drift may say anything)
    assert check["reason"] == "live accuracy 1.000 from 30 labels over 10m"

    disagreeing = [(request_id, 1 - label) for request_id, label in predict_rows(served, 30, 20)]
    result = cli(
        "feedback", str(write_csv(tmp_path / "b.csv", disagreeing)), "--repo", str(served.root), "--env", "staging"
    )
    assert result.code == 0
    code, check = performance_check(cli, served.root)
    assert (code, check["state"], check["value"]) == (1, "CRIT", 0.6)
    assert check["reason"] == "live accuracy 0.600 from 50 labels over 10m < 0.75"
    table = cli("status", "--repo", str(served.root), "--env", "staging")
    assert table.code == 1
    assert "live accuracy 0.600 from 50 labels over 10m < 0.75" in table.stdout


def test_feedback_names_each_rejected_line(cli: Any, served: Served, tmp_path: Path) -> None:
    (first, label), (second, _) = predict_rows(served, 0, 2)
    assert (
        cli(
            "feedback",
            str(write_csv(tmp_path / "a.csv", [(first, label)])),
            "--repo",
            str(served.root),
            "--env",
            "staging",
        ).code
        == 0
    )
    rows = [(second, 0), ("nobody-7", 1), (first, label), (second, "yes")]
    file = write_csv(tmp_path / "b.csv", rows)
    result = cli("feedback", str(file), "--repo", str(served.root), "--env", "staging", "-o", "json")
    assert result.code == 1
    summary = json.loads(result.stdout)
    assert (summary["sent"], summary["accepted"]) == (4, 1)
    assert [(r["line"], r["id"], r["status"], r["reason"]) for r in summary["rejected"]] == [
        (3, "nobody-7", 404, "unknown request id: no logged answer has it"),
        (4, first, 409, "row 0 of this request is already labelled"),
        (5, second, 409, "duplicate of row 0 in this batch"),
    ]
    table = cli("feedback", str(file), "--repo", str(served.root), "--env", "staging")
    assert table.code == 1
    assert table.stdout.splitlines()[0] == f"0 of 4 labels accepted by {served.url}, 4 rejected"


def test_explain_finds_an_id_in_a_rotated_file_and_matches(cli: Any, served: Served) -> None:
    ((request_id, predicted),) = predict_rows(served, 5, 1)
    rows = records_of(served.fit.frame.iloc[:500])
    for index in range(25):  # about 56 kB a line: the first file rotates after ~19 requests
        status, _, _ = post_json(served.url, "/predict", {"records": rows}, {"X-Request-Id": f"batch-{index}"})
        assert status == 200
    wait_logged(served.folder, {"batch-24"})
    files = log_files(served.folder)
    holding = [path for path in files if f'"id":"{request_id}",' in path.read_text()]
    assert len(files) >= 2 and holding == [files[0]]  # rotated: not the file being written

    result = cli("explain", request_id, "--repo", str(served.root), "-o", "json")
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)
    record = served.fit.record
    assert (found["model"], found["version"], found["role"], found["verdict"]) == ("churn", 1, "stable", "MATCH")
    assert found["outputs"] == found["rerun_outputs"] == [predicted]
    assert found["spec_commit"] == record.spec_commit
    assert found["data"]["sha256"] == "ab" * 32
    assert re.fullmatch(r"[0-9a-f]{64}", found["artifact_sha256"])

    table = cli("explain", request_id, "--repo", str(served.root))
    assert table.code == 0
    lines = table.stdout.splitlines()
    assert lines[1] == "  answered by  churn@1 (stable)"
    assert lines[-1] == "MATCH: the archived artifact gives the same answer"


def test_explain_an_unknown_id_exits_1(cli: Any, served: Served) -> None:
    result = cli("explain", "never-sent", "--repo", str(served.root), "--env", "staging")
    assert result.code == 1
    assert result.stderr.splitlines()[0] == (
        "error: Not found: no logged answer has request id 'never-sent' in the prediction logs of environment staging"
    )


def test_feedback_to_a_url_and_where_to_send_is_required(cli: Any, served: Served, tmp_path: Path) -> None:
    answers = predict_rows(served, 0, 2)
    file = write_csv(tmp_path / "a.csv", answers)
    result = cli("feedback", str(file), "--repo", str(served.root), "--url", served.url, "-o", "json")
    assert result.code == 0
    assert json.loads(result.stdout) == {"url": served.url, "file": str(file), "sent": 2, "accepted": 2, "rejected": []}
    nowhere = cli("feedback", str(file), "--repo", str(served.root))
    assert nowhere.code == 2
    assert nowhere.stderr.splitlines()[0] == "error: Usage error: say where the service runs"
    missing = cli("feedback", str(tmp_path / "none.csv"), "--repo", str(served.root), "--url", served.url)
    assert (missing.code, missing.stderr.splitlines()[0]) == (
        1,
        f"error: Not found: no labels file at {tmp_path / 'none.csv'}",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("request,truth\nx,1\n")
    wrong = cli("feedback", str(bad), "--repo", str(served.root), "--url", served.url)
    assert (wrong.code, wrong.stderr.splitlines()[0]) == (
        2,
        f"error: Usage error: {bad}: the CSV header needs id and label columns; missing id, label",
    )


def test_explain_says_different_when_the_logged_answer_was_not_the_artifacts(cli: Any, served: Served) -> None:
    ((request_id, predicted),) = predict_rows(served, 7, 1)
    wait_logged(served.folder, {request_id})
    (path,) = log_files(served.folder)
    lines = path.read_text().splitlines()
    edited = [json.loads(line) for line in lines]
    for line in edited:
        if line["id"] == request_id:
            line["outputs"] = [1 - predicted]
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in edited))
    result = cli("explain", request_id, "--repo", str(served.root))
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[-2:] == ["DIFFERENT:", f"  outputs: logged [{1 - predicted}], re-run [{predicted}]"]
