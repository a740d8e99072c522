"""Request ids on every answer, and the prediction log: what a line holds, rotation, files kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlopsctl.contract import metrics as mc
from mlopsctl.serve.predlog import log_files
from mlopsctl.serve.runner import ServerThread
from tests.support.predlog import get_text, logging_service, post_json, wait_logged
from tests.support.serving import Fitted, churn_fitted, records_of


@pytest.fixture(scope="module")
def churn() -> Fitted:
    return churn_fitted()


@pytest.fixture
def served(churn: Fitted, tmp_path: Path) -> Iterator[ServerThread]:
    running = logging_service(churn, tmp_path / "log")
    yield running
    running.stop()


def test_every_answer_carries_a_new_request_id(served: ServerThread, churn: Fitted) -> None:
    row = records_of(churn.frame.iloc[:1])[0]
    ids = set()
    for _ in range(3):
        status, headers, _ = post_json(served.url, "/predict", {"record": row})
        assert status == 200
        ids.add(headers["x-request-id"])
    v2 = {"inputs": [{"name": k, "shape": [1], "datatype": _datatype(v), "data": [v]} for k, v in row.items()]}
    status, headers, body = post_json(served.url, "/v2/models/churn/infer", v2)
    assert status == 200, body
    ids.add(headers["x-request-id"])
    assert len(ids) == 4


def test_a_callers_sane_id_is_kept_and_logged_with_the_answer(
    served: ServerThread, churn: Fitted, tmp_path: Path
) -> None:
    row = records_of(churn.frame.iloc[:1])[0]
    status, headers, body = post_json(served.url, "/predict", {"record": row}, {"X-Request-Id": "order-42:a.b_c"})
    assert status == 200
    assert headers["x-request-id"] == "order-42:a.b_c"
    wait_logged(tmp_path / "log", {"order-42:a.b_c"})
    (path,) = log_files(tmp_path / "log")
    line = json.loads(path.read_text().splitlines()[-1])
    assert line["id"] == "order-42:a.b_c"
    assert (line["model"], line["version"], line["role"], line["rows"]) == ("churn", "1", "stable", 1)
    assert line["outputs"] == body["predictions"]
    assert line["probabilities"] == body["probabilities"]
    assert line["artifact_sha256"] == churn.record.artifact.sha256
    assert set(line["inputs"]) == {c.name for c in churn.record.signature.inputs}
    assert path.stat().st_mode & 0o777 == 0o600  # what clients sent may be personal data


@pytest.mark.parametrize("given", ["a" * 129, "has space", "semi;colon", "ünï"])
def test_an_insane_id_is_a_400_naming_the_header(served: ServerThread, churn: Fitted, given: str) -> None:
    row = records_of(churn.frame.iloc[:1])[0]
    status, _, body = post_json(served.url, "/predict", {"record": row}, {"X-Request-Id": given})
    assert status == 400
    assert body == {"error": "X-Request-Id must be 1 to 128 characters of A-Z a-z 0-9 . _ : -"}


def test_the_log_rotates_at_its_size_and_keeps_n_files(churn: Fitted, tmp_path: Path) -> None:
    folder = tmp_path / "log"
    running = logging_service(churn, folder, max_bytes=4096, keep_files=2)
    try:
        rows = records_of(churn.frame.iloc[:20])
        sent = []
        for index in range(60):
            request_id = f"r-{index}"
            status, _, _ = post_json(
                running.url, "/predict", {"record": rows[index % 20]}, {"X-Request-Id": request_id}
            )
            assert status == 200
            sent.append(request_id)
        metrics = wait_written(running.url, 60)
        assert f"{mc.PREDICTION_LOG_DROPPED_TOTAL} 0\n" in metrics
        files = log_files(folder)
        assert len(files) == 3  # the current file and the 2 rotated files kept
        assert all(path.stat().st_size <= 4096 for path in files)
        kept = [json.loads(raw)["id"] for path in files for raw in path.read_text().splitlines()]
        assert kept == sent[-len(kept) :]  # the newest, in order; the oldest were deleted
        assert len(kept) < len(sent)
    finally:
        running.stop()


def wait_written(url: str, count: int) -> str:
    """/metrics once the writer has written ``count`` answers (it runs on its own thread)."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metrics = get_text(url, "/metrics")
        if f"{mc.PREDICTION_LOG_WRITTEN_TOTAL} {count}\n" in metrics:
            return metrics
        time.sleep(0.05)
    raise TimeoutError(f"the prediction log never wrote {count} answers")


def _datatype(value: object) -> str:
    return "BYTES" if isinstance(value, str) or value is None else "FP64"
