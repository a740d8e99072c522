"""POST /feedback: good and bad batches with their exact answers, durability, and the live metric."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlopsctl.contract import metrics as mc
from mlopsctl.contract.predictionlog import labelled_rows
from mlopsctl.monitor.promtext import parse
from mlopsctl.serve.predlog import LABELS_FILE, log_files
from mlopsctl.serve.runner import ServerThread
from tests.support.predlog import get_text, logging_service, post, post_json
from tests.support.serving import Fitted, churn_fitted, records_of

LABELS = '{model="churn",version="1",role="stable"'


@pytest.fixture(scope="module")
def churn() -> Fitted:
    return churn_fitted()


@pytest.fixture
def served(churn: Fitted, tmp_path: Path) -> Iterator[ServerThread]:
    running = logging_service(churn, tmp_path / "log")
    yield running
    running.stop()


def predict(url: str, churn: Fitted, count: int, start: int = 0) -> list[tuple[str, int]]:
    """(request id, predicted class) of ``count`` one-row requests."""
    answers = []
    for row in records_of(churn.frame.iloc[start : start + count]):
        status, headers, body = post_json(url, "/predict", {"record": row})
        assert status == 200
        answers.append((headers["x-request-id"], body["predictions"][0]))
    return answers


def live(url: str) -> dict[str, float]:
    found = {}
    for sample in parse(get_text(url, "/metrics")):
        if sample.name in (mc.LIVE_PERFORMANCE, mc.LIVE_LABELS, mc.FEEDBACK_TOTAL):
            found[sample.name] = sample.value
    return found


def test_labels_are_accepted_kept_and_counted(served: ServerThread, churn: Fitted, tmp_path: Path) -> None:
    answers = predict(served.url, churn, 4)
    labels = [{"id": request_id, "label": predicted} for request_id, predicted in answers]
    status, _, body = post_json(served.url, "/feedback", {"labels": labels})
    assert (status, body) == (200, {"accepted": 4})
    kept = [json.loads(line) for line in (tmp_path / "log" / LABELS_FILE).read_text().splitlines()]
    assert [(k["id"], k["row"], k["label"], k["version"], k["role"]) for k in kept] == [
        (request_id, 0, predicted, "1", "stable") for request_id, predicted in answers
    ]
    assert live(served.url) == {mc.FEEDBACK_TOTAL: 4.0, mc.LIVE_PERFORMANCE: 1.0, mc.LIVE_LABELS: 4.0}


def test_live_accuracy_falls_when_labels_disagree(served: ServerThread, churn: Fitted) -> None:
    answers = predict(served.url, churn, 10)
    agree = [{"id": i, "label": p} for i, p in answers[:6]]
    disagree = [{"id": i, "label": 1 - p} for i, p in answers[6:]]
    assert post_json(served.url, "/feedback", {"labels": agree})[0] == 200
    assert live(served.url)[mc.LIVE_PERFORMANCE] == 1.0
    assert post_json(served.url, "/feedback", {"labels": disagree})[0] == 200
    text = get_text(served.url, "/metrics")
    assert f'{mc.LIVE_PERFORMANCE}{LABELS},metric="accuracy"}} 0.6\n' in text
    assert f'{mc.LIVE_LABELS}{LABELS},metric="accuracy"}} 10\n' in text


def test_bad_rows_are_named_and_refuse_the_batch(served: ServerThread, churn: Fitted) -> None:
    (first, p1), (second, _) = predict(served.url, churn, 2)
    assert post_json(served.url, "/feedback", {"labels": [{"id": first, "label": p1}]})[0] == 200
    batch = [
        {"id": second, "label": 0},
        {"id": "nobody-1", "label": 1},
        {"id": first, "label": 1},
        {"id": second, "label": 1},
        {"id": second, "label": "yes", "row": 0},
    ]
    status, _, body = post_json(served.url, "/feedback", {"labels": batch})
    assert status == 404
    assert body == {
        "error": "row 1 (id 'nobody-1'): unknown request id: no logged answer has it (and 3 more problems)",
        "accepted": 0,
        "problems": [
            {"index": 1, "id": "nobody-1", "status": 404, "error": "unknown request id: no logged answer has it"},
            {"index": 2, "id": first, "status": 409, "error": "row 0 of this request is already labelled"},
            {"index": 3, "id": second, "status": 409, "error": "duplicate of row 0 in this batch"},
            {"index": 4, "id": second, "status": 409, "error": "duplicate of row 0 in this batch"},
        ],
    }
    # nothing of the refused batch was kept: the good row is still free to label
    assert live(served.url)[mc.FEEDBACK_TOTAL] == 1.0
    assert post_json(served.url, "/feedback", {"labels": [{"id": second, "label": 0}]})[0] == 200


def test_a_label_of_the_wrong_type_is_a_422(served: ServerThread, churn: Fitted) -> None:
    ((request_id, _),) = predict(served.url, churn, 1)
    for label in ("yes", True, 2, None):
        status, _, body = post_json(served.url, "/feedback", {"labels": [{"id": request_id, "label": label}]})
        shown = json.dumps(label)
        message = f"label {shown} is not a class of churn@1 (classes: 0, 1)"
        assert (status, body["error"]) == (422, f"row 0 (id {request_id!r}): {message}")
    status, _, body = post_json(served.url, "/feedback", {"labels": [{"id": request_id, "label": 1, "row": 1}]})
    assert (status, body["error"]) == (422, f"row 0 (id {request_id!r}): row must be an integer from 0 to 0")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], 'expected a JSON object {"labels": [{"id": ..., "label": ...}, ...]}'),
        ({"labels": []}, '"labels" is empty'),
    ],
)
def test_a_malformed_batch_is_a_422(served: ServerThread, document: object, message: str) -> None:
    status, _, body = post_json(served.url, "/feedback", document)
    assert status == 422
    assert body["error"] == message


def test_a_10_mb_body_is_a_413_and_loses_no_earlier_label(served: ServerThread, churn: Fitted, tmp_path: Path) -> None:
    answers = predict(served.url, churn, 3)
    labels = [{"id": request_id, "label": predicted} for request_id, predicted in answers]
    assert post_json(served.url, "/feedback", {"labels": labels})[0] == 200
    huge = json.dumps({"labels": [{"id": "x" * 100, "label": 1}] * 85_000}).encode()
    assert len(huge) > 10_000_000
    status, _, body = post(served.url, "/feedback", huge)
    assert status == 413
    assert body == {"error": "request body is larger than this service's limit of 1048576 bytes"}
    kept = (tmp_path / "log" / LABELS_FILE).read_text().splitlines()
    assert [json.loads(line)["id"] for line in kept] == [request_id for request_id, _ in answers]
    assert live(served.url)[mc.FEEDBACK_TOTAL] == 3.0


def test_labels_survive_a_restart_as_duplicates(churn: Fitted, tmp_path: Path) -> None:
    folder = tmp_path / "log"
    first = logging_service(churn, folder)
    try:
        ((request_id, predicted),) = predict(first.url, churn, 1)
        assert post_json(first.url, "/feedback", {"labels": [{"id": request_id, "label": predicted}]})[0] == 200
    finally:
        first.stop()
    second = logging_service(churn, folder)
    try:
        status, _, body = post_json(second.url, "/feedback", {"labels": [{"id": request_id, "label": predicted}]})
        assert status == 409
        assert body["error"] == f"row 0 (id {request_id!r}): row 0 of this request is already labelled"
    finally:
        second.stop()


def test_labels_join_to_the_rows_they_label(served: ServerThread, churn: Fitted, tmp_path: Path) -> None:
    rows = records_of(churn.frame.iloc[:3])
    status, _, body = post_json(served.url, "/predict", {"records": rows}, {"X-Request-Id": "three"})
    assert status == 200
    ((single, predicted),) = predict(served.url, churn, 1, start=10)
    labels = [{"id": "three", "row": 2, "label": 1}, {"id": single, "label": predicted}]
    assert post_json(served.url, "/feedback", {"labels": labels})[0] == 200
    served.stop()  # the writer flushes everything on close
    joined = labelled_rows(tmp_path / "log").sort_values("id").reset_index(drop=True)
    expected_ids = sorted(["three", single])
    assert list(joined["id"]) == expected_ids
    third = joined[joined["id"] == "three"].iloc[0]
    assert (third["row"], third["label"], third["prediction"]) == (2, 1, body["predictions"][2])
    assert third["age"] == rows[2]["age"]
    assert (third["version"], third["role"]) == ("1", "stable")


def test_a_shadow_is_logged_under_the_same_id_and_gets_its_own_live_metric(churn: Fitted, tmp_path: Path) -> None:
    from sklearn.dummy import DummyClassifier

    constant = churn_fitted(DummyClassifier(strategy="constant", constant=1), version=2)
    running = logging_service(churn, tmp_path / "log", shadow=constant)
    try:
        answers = predict(running.url, churn, 4)
        labels = [{"id": request_id, "label": 0} for request_id, _ in answers]
        assert post_json(running.url, "/feedback", {"labels": labels})[0] == 200
        text = get_text(running.url, "/metrics")
    finally:
        running.stop()
    stable_accuracy = sum(predicted == 0 for _, predicted in answers) / 4
    stable = '{model="churn",version="1",role="stable",metric="accuracy"}'
    shadow = '{model="churn",version="2",role="shadow",metric="accuracy"}'
    assert f"{mc.LIVE_PERFORMANCE}{stable} {stable_accuracy!r}\n" in text
    assert f"{mc.LIVE_PERFORMANCE}{shadow} 0.0\n" in text  # always 1, every label 0
    lines = [json.loads(raw) for path in log_files(tmp_path / "log") for raw in path.read_text().splitlines()]
    assert [(line["id"], line["role"]) for line in lines] == [
        (request_id, role) for request_id, _ in answers for role in ("stable", "shadow")
    ]
