"""What the service does once a client's answer is on its way: the shadow predicts the same rows, or
the stable version answers a canary's rows, and the candidate's answers are compared with the stable
version's (:mod:`mlopsctl.serve.compare`).

The work is queued and done when the event loop next turns (``call_soon``), after the responses of
that turn are written. Every request answered in the same turn is predicted as ONE batch: a 50-tree
forest answers 8 rows in about 1.3x the time of one, so under load a shadow costs far less than a
second prediction per request. A request of more than ``OFF_LOOP_ROWS`` rows is predicted on a
worker thread instead (the loop keeps answering meanwhile), then finished on the loop. When a merged
batch fails (one request's rows the shadow rejects, or a shadow that always raises), each request is
retried alone, so errors are counted per request as before. Nothing here delays or changes a
client's answer, and nothing raises.

A shadow's rows are counted in its own metrics as requests (its latency is its share of the batch's
prediction time, by rows: not a request's latency, which it never had) and logged under its role;
the stable version's answers to a canary's rows are only compared: the client never saw them.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlopsctl.contract.batch import Batch, Prediction
from mlopsctl.serve.inputs import RequestError
from mlopsctl.serve.service import PredictionFailed, ServedModel, Service

log = logging.getLogger("mlopsctl.serve")

Parse = Callable[[ServedModel, Any], Batch]
MERGE_ROWS = 256
"""Requests with more rows run alone (their own batch is already big enough to be efficient)."""
OFF_LOOP_ROWS = 2000
"""Requests with more rows are predicted on a worker thread, as the app does for clients' big batches."""


@dataclass(frozen=True)
class Followup:
    """One answered request whose rows the other version still has to predict."""

    service: Service
    answered: ServedModel
    batch: Batch
    prediction: Prediction
    document: Any
    route: str
    request_id: str
    parse: Parse

    @property
    def other(self) -> ServedModel:
        """Who predicts after the answer: the shadow, or the stable version for a canary's rows."""
        service = self.service
        return service.shadow if service.shadow is not None else service.stable

    @property
    def mergeable(self) -> bool:
        return self.batch.rows <= MERGE_ROWS and self.service.same_columns


def needs_followup(service: Service, answered: ServedModel) -> bool:
    """A shadow predicts after stable answered; stable predicts after a canary answered."""
    if service.shadow is not None:
        return answered is not service.shadow
    return service.strategy == "canary" and answered is service.candidate


class Followups:
    """The queue of answered requests waiting for the loop's next turn; big ones go to a worker thread."""

    def __init__(self) -> None:
        self._pending: list[Followup] = []
        self._executor: ThreadPoolExecutor | None = None

    def add(self, item: Followup) -> None:
        if item.batch.rows > OFF_LOOP_ROWS and self._off_loop(item):
            return
        self._pending.append(item)
        if len(self._pending) > 1:
            return  # already scheduled
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no event loop (called directly): run it now
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        merged = [item for item in pending if item.mergeable]
        for item in pending:
            if not item.mergeable:
                _guarded(_run, [item])
        if merged:
            _guarded(_run, merged)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _off_loop(self, item: Followup) -> bool:
        """Predict a big batch on the worker thread (the loop keeps answering), finish it on the loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-followup")
        future = loop.run_in_executor(self._executor, predict_other, [item])
        future.add_done_callback(functools.partial(_predicted_off_loop, [item]))
        return True


def _predicted_off_loop(items: list[Followup], future: asyncio.Future[Predicted]) -> None:
    _guarded(lambda chosen: finish(chosen, future.result()), items)


def _guarded(run: Callable[[list[Followup]], None], items: list[Followup]) -> None:
    try:
        run(items)
    except Exception:  # a bug here must never stop the loop that answers clients
        log.exception("the follow-up of %d answered request(s) failed", len(items))


@dataclass(frozen=True)
class Predicted:
    """The other version's answer to some requests' rows, or why it failed, and how long it took."""

    batch: Batch | None
    prediction: Prediction | None
    failure: RequestError | PredictionFailed | None
    seconds: float


def _run(items: list[Followup]) -> None:
    finish(items, predict_other(items))


def predict_other(items: list[Followup]) -> Predicted:
    """The other version predicts the requests' rows as one batch (safe off the loop: no metrics)."""
    first = items[0]
    started = time.perf_counter()
    try:
        batch = merge_batches([i.batch for i in items]) if len(items) > 1 else own_batch(first)
        prediction = first.other.run(batch)
    except (RequestError, PredictionFailed) as exc:
        return Predicted(None, None, exc, time.perf_counter() - started)
    return Predicted(batch, prediction, None, time.perf_counter() - started)


def finish(items: list[Followup], predicted: Predicted) -> None:
    """Count, log and compare on the loop; a failed merged batch is tried again request by request."""
    first = items[0]
    if predicted.failure is not None and len(items) > 1:
        for item in items:  # one request's rows (or a broken shadow): counted per request
            _guarded(_run, [item])
    elif predicted.failure is not None:
        if first.service.shadow is not None:
            _shadow_failed(first, predicted.failure, predicted.seconds)
        else:  # run() already logged a failure inside the model
            log.debug("stable %s did not answer a canary's rows: %s", first.other.version, predicted.failure)
    elif first.service.shadow is not None:
        _shadow_answered(items, predicted)
    else:  # stable's answers to a canary's rows: compared only (no metrics, no log)
        assert predicted.prediction is not None
        first.service.count_agreement(merge_predictions([i.prediction for i in items]), predicted.prediction)


def _shadow_answered(items: list[Followup], predicted: Predicted) -> None:
    batch, prediction = predicted.batch, predicted.prediction
    assert batch is not None and prediction is not None
    shadow, service = items[0].other, items[0].service
    sizes = [i.batch.rows for i in items]
    shadow.metrics.observe(batch, prediction, sizes)
    for item, part in zip(items, split_prediction(prediction, sizes), strict=True):
        shadow.metrics.request(item.route, 200, predicted.seconds * item.batch.rows / max(batch.rows, 1))
        service.recorder.record_shadow(item.request_id, shadow, item.batch if len(items) > 1 else batch, part)
    service.count_agreement(prediction, merge_predictions([i.prediction for i in items]))


def own_batch(item: Followup) -> Batch:
    """The request's rows as the other version reads them: the answered batch when the columns match."""
    if item.service.same_columns:
        return item.batch
    return item.parse(item.other, item.document)


def _shadow_failed(item: Followup, exc: RequestError | PredictionFailed, elapsed: float) -> None:
    shadow = item.other
    if isinstance(exc, RequestError):
        code = exc.status
    else:
        shadow.metrics.prediction_errors += 1
        code = 500
    shadow.metrics.request(item.route, code, elapsed)


def merge_batches(batches: Sequence[Batch]) -> Batch:
    """Rows of several requests (same columns) as one batch."""
    if len(batches) == 1:
        return batches[0]
    names = batches[0].columns
    columns = {name: list(itertools.chain.from_iterable(b.columns[name] for b in batches)) for name in names}
    return Batch(sum(b.rows for b in batches), columns, sum(b.ignored for b in batches))


def merge_predictions(predictions: Sequence[Prediction]) -> Prediction:
    if len(predictions) == 1:
        return predictions[0]
    labels = np.concatenate([p.labels for p in predictions])
    probabilities = [p.probabilities for p in predictions]
    if any(p is None for p in probabilities):
        return Prediction(labels)
    return Prediction(labels, np.concatenate(probabilities))  # type: ignore[arg-type]


def split_prediction(prediction: Prediction, sizes: Sequence[int]) -> list[Prediction]:
    """One batch's answer back into each request's part."""
    if len(sizes) == 1:
        return [prediction]
    bounds = np.cumsum(sizes)[:-1]
    labels = np.split(prediction.labels, bounds)
    if prediction.probabilities is None:
        return [Prediction(part) for part in labels]
    probabilities = np.split(prediction.probabilities, bounds)
    return [Prediction(a, b) for a, b in zip(labels, probabilities, strict=True)]
