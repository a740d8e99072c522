"""Shadow and canary comparison in the real service: every row the candidate and the stable version
both answered is counted under the candidate's labels, agreed or not, with its difference."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from mlopsctl.contract import metrics as mc
from mlopsctl.serve.runner import ServerThread, make_app
from mlopsctl.serve.service import LoadedVersion, ServedModel, Service
from tests.support.serving import (
    Client,
    Fitted,
    ServiceProcess,
    churn_fitted,
    records_of,
    write_version,
)
from tests.support.shadow import candidate_service, comparison_lines, expected_buckets, flipped_fitted, sample

ROWS = 40


@pytest.fixture(scope="module")
def churn() -> Fitted:
    return churn_fitted()


def _post_rows(url: str, fit: Fitted, rows: int = ROWS) -> tuple[list[object], str]:
    """``rows`` single-row requests, then a batch of 10; the answers the client got and /metrics."""
    client = Client(url)
    answers: list[object] = []
    for row in records_of(fit.frame.iloc[:rows]):
        status, _, body = client.post("/predict", {"record": row})
        assert status == 200
        answers += body["predictions"]
    status, _, body = client.post("/predict", {"records": records_of(fit.frame.iloc[rows : rows + 10])})
    assert status == 200
    answers += body["predictions"]
    metrics = client.get("/metrics")[2].decode()
    client.close()
    return answers, metrics


def _labels(role: str, version: str = "2") -> dict[str, str]:
    return {"model": "churn", "version": version, "role": role, mc.STABLE_VERSION: "1"}


def _assert_buckets(metrics: str, labels: dict[str, str], differences: np.ndarray) -> None:  # type: ignore[type-arg]
    for bound, count in expected_buckets(differences).items():
        assert sample(metrics, f"{mc.ANSWER_DIFFERENCE}_bucket", **labels, le=bound) == count, bound


def test_an_identical_shadow_agrees_on_every_row(churn: Fitted) -> None:
    with candidate_service(churn, churn_fitted(version=2), "shadow") as running:
        answers, metrics = _post_rows(running.url, churn)
    assert answers == churn.pipeline.predict(churn.frame.iloc[: ROWS + 10]).tolist()
    where = 'model="churn",version="2",role="shadow",stable_version="1"'
    assert comparison_lines(metrics) == [
        f"{mc.COMPARED_ROWS_TOTAL}{{{where}}} 50",
        f"{mc.AGREED_ROWS_TOTAL}{{{where}}} 50",
        f"{mc.ANSWER_DIFFERENCE}_count{{{where}}} 50",
    ]
    assert f'{mc.ANSWER_DIFFERENCE}_bucket{{{where},le="0.001"}} 50' in metrics
    # the shadow's latency and errors are its own series, so p95 and error rate per role are queryable
    shadow = {"model": "churn", "version": "2", "role": "shadow", "route": "/predict"}
    assert sample(metrics, f"{mc.REQUEST_DURATION}_count", **shadow) == ROWS + 1
    assert sample(metrics, mc.PREDICTION_ERRORS_TOTAL, model="churn", version="2", role="shadow") == 0


def test_a_shadow_trained_on_flipped_labels_disagrees_row_by_row(churn: Fitted) -> None:
    flipped = flipped_fitted(version=2)
    with candidate_service(churn, flipped, "shadow") as running:
        answers, metrics = _post_rows(running.url, churn)
    frame = churn.frame.iloc[: ROWS + 10]
    assert answers == churn.pipeline.predict(frame).tolist()  # the client always gets the stable answer
    agreed = int(np.count_nonzero(churn.pipeline.predict(frame) == flipped.pipeline.predict(frame)))
    differences = np.abs(churn.pipeline.predict_proba(frame) - flipped.pipeline.predict_proba(frame)).max(axis=1)
    labels = _labels("shadow")
    assert agreed < ROWS // 2
    assert sample(metrics, mc.COMPARED_ROWS_TOTAL, **labels) == ROWS + 10
    assert sample(metrics, mc.AGREED_ROWS_TOTAL, **labels) == agreed
    _assert_buckets(metrics, labels, differences)
    assert sample(metrics, f"{mc.ANSWER_DIFFERENCE}_sum", **labels) == pytest.approx(differences.sum())


def test_a_canarys_rows_are_compared_with_stable_off_the_request_path(churn: Fitted) -> None:
    flipped = flipped_fitted(version=2)
    with candidate_service(churn, flipped, "canary", weight=100.0) as running:
        answers, metrics = _post_rows(running.url, churn)
    frame = churn.frame.iloc[: ROWS + 10]
    assert answers == flipped.pipeline.predict(frame).tolist()  # the canary answered every request
    agreed = int(np.count_nonzero(churn.pipeline.predict(frame) == flipped.pipeline.predict(frame)))
    labels = _labels("canary")
    assert sample(metrics, mc.COMPARED_ROWS_TOTAL, **labels) == ROWS + 10
    assert sample(metrics, mc.AGREED_ROWS_TOTAL, **labels) == agreed
    # stable answered those rows for the comparison only: not a request, not in its drift counters
    stable = {"model": "churn", "version": "1", "role": "stable", "route": "/predict", "code": "200"}
    assert sample(metrics, mc.REQUESTS_TOTAL, **stable) is None
    assert sample(metrics, f"{mc.BATCH_ROWS}_count", model="churn", version="1", role="stable") == 0


def test_only_the_candidate_carries_comparison_series(churn: Fitted) -> None:
    with candidate_service(churn, churn_fitted(version=2), "canary", weight=0.0) as running:
        _, metrics = _post_rows(running.url, churn, rows=3)
    where = 'model="churn",version="2",role="canary",stable_version="1"'
    assert comparison_lines(metrics) == [
        f"{mc.COMPARED_ROWS_TOTAL}{{{where}}} 0",
        f"{mc.AGREED_ROWS_TOTAL}{{{where}}} 0",
        f"{mc.ANSWER_DIFFERENCE}_count{{{where}}} 0",
    ]


class Boom:
    description = "always fails"

    def predict(self, batch: object) -> object:
        raise RuntimeError("candidate is broken")


def test_a_failing_shadow_counts_an_error_and_no_comparison(churn: Fitted) -> None:
    stable = ServedModel(LoadedVersion(churn.record, churn.pipeline), "stable", 100)
    record = churn.record.model_copy(update={"version": 2})
    broken = ServedModel(LoadedVersion(record, churn.pipeline), "shadow", 100, predictor=Boom())  # type: ignore[arg-type]
    with ServerThread(make_app(Service(stable, broken, "shadow"))) as running:
        answers, metrics = _post_rows(running.url, churn, rows=5)
    assert answers == churn.pipeline.predict(churn.frame.iloc[:15]).tolist()
    labels = _labels("shadow")
    assert sample(metrics, mc.PREDICTION_ERRORS_TOTAL, model="churn", version="2", role="shadow") == 6
    assert sample(metrics, mc.COMPARED_ROWS_TOTAL, **labels) == 0
    assert sample(metrics, mc.AGREED_ROWS_TOTAL, **labels) == 0


# --- regression: the spec's tolerance, passed to the service process as every image runs it ----------


@pytest.fixture(scope="module")
def regression_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fitted, Fitted, list[str]]:
    from sklearn.linear_model import Ridge

    stable, candidate = churn_fitted(regression=True), churn_fitted(Ridge(), version=2, regression=True)
    folder = tmp_path_factory.mktemp("registry")
    files = [str(path) for fit in (stable, candidate) for path in write_version(folder, fit)[:2]]
    return stable, candidate, files


def test_a_regression_shadow_agrees_within_the_tolerance(regression_versions: tuple[Fitted, Fitted, list[str]]) -> None:
    stable, candidate, files = regression_versions
    arguments = ["--record", files[0], "--artifact", files[1]]
    arguments += ["--candidate-record", files[2], "--candidate-artifact", files[3], "--strategy", "shadow"]
    with ServiceProcess(*arguments, "--shadow-tolerance", "5") as running:
        _, metrics = _post_rows(running.url, stable)
    frame = stable.frame.iloc[: ROWS + 10]
    differences = np.abs(stable.pipeline.predict(frame) - candidate.pipeline.predict(frame))
    labels = _labels("shadow")
    assert 0 < np.count_nonzero(differences <= 5) < ROWS + 10  # the tolerance decides, both ways
    assert sample(metrics, mc.COMPARED_ROWS_TOTAL, **labels) == ROWS + 10
    assert sample(metrics, mc.AGREED_ROWS_TOTAL, **labels) == np.count_nonzero(differences <= 5)
    _assert_buckets(metrics, labels, differences)


def test_a_negative_tolerance_is_refused_by_name(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mlopsctl.serve", "--record", "r.yaml", "--artifact", "a.skops"]
    result = subprocess.run(
        [*command, "--shadow-tolerance", "-1"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "python -m mlopsctl.serve: error: --shadow-tolerance is an absolute difference of 0 or more"
    )


def test_concurrent_clients_get_stable_answers_and_every_row_is_compared_once(churn: Fitted) -> None:
    from concurrent.futures import ThreadPoolExecutor

    flipped, clients, each = flipped_fitted(version=2), 8, 10
    rows = records_of(churn.frame.iloc[: clients * each])

    def one_client(first: int) -> list[object]:
        client = Client(running.url)
        try:
            return [client.post("/predict", {"record": row})[2]["predictions"][0] for row in rows[first : first + each]]
        finally:
            client.close()

    with candidate_service(churn, flipped, "shadow") as running, ThreadPoolExecutor(clients) as pool:
        answers = [a for part in pool.map(one_client, range(0, clients * each, each)) for a in part]
        metrics = Client(running.url).get("/metrics")[2].decode()
    frame = churn.frame.iloc[: clients * each]
    assert answers == churn.pipeline.predict(frame).tolist()
    agreed = int(np.count_nonzero(churn.pipeline.predict(frame) == flipped.pipeline.predict(frame)))
    labels = _labels("shadow")
    assert sample(metrics, mc.COMPARED_ROWS_TOTAL, **labels) == clients * each
    assert sample(metrics, mc.AGREED_ROWS_TOTAL, **labels) == agreed
    shadow = {"model": "churn", "version": "2", "role": "shadow"}
    assert sample(metrics, mc.REQUESTS_TOTAL, **shadow, route="/predict", code="200") == clients * each
    assert sample(metrics, f"{mc.BATCH_ROWS}_count", **shadow) == clients * each


def test_a_big_shadowed_batch_is_predicted_off_the_loop_and_counted(churn: Fitted) -> None:
    from mlopsctl.serve.followups import OFF_LOOP_ROWS

    big = churn_fitted(rows=OFF_LOOP_ROWS + 300)
    flipped = flipped_fitted(version=2)
    with candidate_service(big, flipped, "shadow") as running:
        client = Client(running.url)
        status, _, body = client.post("/predict", {"records": records_of(big.frame)})
        assert status == 200
        assert client.get("/health/live")[0] == 200
        metrics = wait_for_compared(client, big.frame.shape[0])
        client.close()
        workers = {thread.name.split("_")[0] for thread in threading.enumerate()}
    assert "mlops-followup" in workers  # the service runs in this process: its worker thread is here
    agreed = int(np.count_nonzero(big.pipeline.predict(big.frame) == flipped.pipeline.predict(big.frame)))
    assert body["predictions"] == big.pipeline.predict(big.frame).tolist()
    assert sample(metrics, mc.AGREED_ROWS_TOTAL, **_labels("shadow")) == agreed
    shadow = {"model": "churn", "version": "2", "role": "shadow"}
    assert sample(metrics, mc.REQUESTS_TOTAL, **shadow, route="/predict", code="200") == 1
    assert sample(metrics, f"{mc.BATCH_ROWS}_sum", **shadow) == big.frame.shape[0]


def wait_for_compared(client: Client, rows: int, timeout: float = 60.0) -> str:
    """/metrics once the shadow's off-loop prediction of ``rows`` rows was counted (a worker thread)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        metrics = client.get("/metrics")[2].decode()
        if sample(metrics, mc.COMPARED_ROWS_TOTAL, **_labels("shadow")) == rows or time.monotonic() > deadline:
            return metrics
        time.sleep(0.05)
