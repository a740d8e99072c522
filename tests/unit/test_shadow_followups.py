"""Shadow work after the answers: requests answered in the same loop turn are predicted as one batch,
and every count (requests, rows per request, comparison, errors) stays per request."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mlopsctl.contract import metrics as mc
from mlopsctl.contract.batch import Batch, Prediction
from mlopsctl.serve.followups import Followup, Followups, merge_batches, split_prediction
from mlopsctl.serve.metrics import render
from mlopsctl.serve.service import LoadedVersion, ServedModel, Service, build_service
from tests.support.serving import Fitted, batch_of, churn_fitted, records_of
from tests.support.shadow import flipped_fitted, sample

REQUESTS = (1, 3, 1, 2, 1)


@pytest.fixture(scope="module")
def fits() -> tuple[Fitted, Fitted]:
    return churn_fitted(), flipped_fitted(version=2)


def _answered(service: Service, fit: Fitted) -> list[Followup]:
    """The requests of REQUESTS (rows each) answered by stable, as the app queues them."""
    items, start = [], 0
    for index, rows in enumerate(REQUESTS):
        batch = batch_of(records_of(fit.frame.iloc[start : start + rows]), fit.record)
        answer = service.stable.predict(batch)
        items.append(Followup(service, service.stable, batch, answer, None, "/predict", f"r{index}", _no_parse))
        start += rows
    return items


def _no_parse(model: ServedModel, document: object) -> Batch:
    raise AssertionError("same columns: the answered batch is reused")


async def _one_turn(followups: Followups, items: list[Followup]) -> None:
    for item in items:
        followups.add(item)
    await asyncio.sleep(0)  # the loop turns: the queued work runs once


def test_requests_of_one_turn_are_predicted_once_and_counted_per_request(fits: tuple[Fitted, Fitted]) -> None:
    stable, shadow = fits
    service = build_service(
        LoadedVersion(stable.record, stable.pipeline), LoadedVersion(shadow.record, shadow.pipeline), strategy="shadow"
    )
    calls = []
    run = service.candidate.run  # type: ignore[union-attr]
    service.candidate.run = lambda batch: calls.append(batch.rows) or run(batch)  # type: ignore[method-assign, union-attr]
    asyncio.run(_one_turn(Followups(), _answered(service, stable)))
    assert calls == [sum(REQUESTS)]  # one prediction for the five requests

    frame = stable.frame.iloc[: sum(REQUESTS)]
    agreed = int(np.count_nonzero(stable.pipeline.predict(frame) == shadow.pipeline.predict(frame)))
    text = render([m.metrics for m in service.models])
    labels = {"model": "churn", "version": "2", "role": "shadow"}
    assert sample(text, mc.COMPARED_ROWS_TOTAL, **labels, stable_version="1") == sum(REQUESTS)
    assert sample(text, mc.AGREED_ROWS_TOTAL, **labels, stable_version="1") == agreed
    assert sample(text, mc.REQUESTS_TOTAL, **labels, route="/predict", code="200") == len(REQUESTS)
    assert sample(text, f"{mc.BATCH_ROWS}_count", **labels) == len(REQUESTS)
    assert sample(text, f"{mc.BATCH_ROWS}_sum", **labels) == sum(REQUESTS)
    assert sample(text, f"{mc.BATCH_ROWS}_bucket", **labels, le="1.0") == REQUESTS.count(1)


class Boom:
    description = "always fails"

    def predict(self, batch: Batch) -> Prediction:
        raise RuntimeError("candidate is broken")


def test_a_failing_merged_batch_counts_one_error_per_request(fits: tuple[Fitted, Fitted]) -> None:
    stable, _ = fits
    served = ServedModel(LoadedVersion(stable.record, stable.pipeline), "stable", 100)
    record = stable.record.model_copy(update={"version": 2})
    broken = ServedModel(LoadedVersion(record, stable.pipeline), "shadow", 100, predictor=Boom())
    service = Service(served, broken, "shadow")
    asyncio.run(_one_turn(Followups(), _answered(service, stable)))
    text = render([m.metrics for m in service.models])
    labels = {"model": "churn", "version": "2", "role": "shadow"}
    assert sample(text, mc.PREDICTION_ERRORS_TOTAL, **labels) == len(REQUESTS)
    assert sample(text, mc.REQUESTS_TOTAL, **labels, route="/predict", code="500") == len(REQUESTS)
    assert sample(text, mc.COMPARED_ROWS_TOTAL, **labels, stable_version="1") == 0


def test_a_merged_answer_splits_back_into_each_request() -> None:
    batches = [Batch(1, {"a": [1.0]}), Batch(2, {"a": [2.0, 3.0]}, ignored=1)]
    assert merge_batches(batches) == Batch(3, {"a": [1.0, 2.0, 3.0]}, ignored=1)
    proba = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]])
    parts = split_prediction(Prediction(np.array([1, 1, 0]), proba), [1, 2])
    assert [p.labels.tolist() for p in parts] == [[1], [1, 0]]
    assert [p.probabilities.tolist() for p in parts] == [[[0.1, 0.9]], [[0.2, 0.8], [0.3, 0.7]]]  # type: ignore[union-attr]
