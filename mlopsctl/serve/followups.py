"""What the service does once a client's answer is on its way: the shadow predicts the same rows, or
the stable version answers a canary's rows, and the candidate's answers are compared with the
stable version's (:mod:`mlopsctl.serve.compare`).

The work is queued and done when the event loop next turns (``call_soon``), after the responses of
that turn are written. Every request answered in the same turn is predicted as ONE batch: a
50-tree forest answers 8 rows in about 1.3x the time of one, so under load a shadow costs far less
than a second prediction per request. When a merged batch fails (one request's rows the shadow
rejects, or a shadow that always raises), each request is retried alone, so errors are counted per
request as before. Nothing here delays or changes a client's answer, and nothing raises.

A shadow's rows are counted in its own metrics as requests (its latency is its share of the batch's
prediction time, by rows: not a request's latency, which it never had) and logged under its role;
the stable version's answers to a canary's rows are only compared: the client never saw them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Sequence
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
    """The queue of answered requests waiting for the loop's next turn."""

    def __init__(self) -> None:
        self._pending: list[Followup] = []

    def add(self, item: Followup) -> None:
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


def _guarded(run: Callable[[list[Followup]], None], items: list[Followup]) -> None:
    try:
        run(items)
    except Exception:  # a bug here must never stop the loop that answers clients
        log.exception("the follow-up of %d answered request(s) failed", len(items))


def _run(items: list[Followup]) -> None:
    if items[0].service.shadow is not None:
        _shadow(items)
    else:
        _canary(items)


def _shadow(items: list[Followup]) -> None:
    first = items[0]
    shadow, service = first.other, first.service
    started = time.perf_counter()
    try:
        batch = merge_batches([i.batch for i in items]) if len(items) > 1 else own_batch(first)
        prediction = shadow.run(batch)
    except (RequestError, PredictionFailed) as exc:
        if len(items) > 1:
            for item in items:  # one request's rows (or a broken shadow): counted per request
                _guarded(_shadow, [item])
            return
        _shadow_failed(first, exc, time.perf_counter() - started)
        return
    elapsed = time.perf_counter() - started
    sizes = [i.batch.rows for i in items]
    shadow.metrics.observe(batch, prediction, sizes)
    for item, part in zip(items, split_prediction(prediction, sizes), strict=True):
        shadow.metrics.request(item.route, 200, elapsed * item.batch.rows / max(batch.rows, 1))
        service.recorder.record_shadow(item.request_id, shadow, item.batch if len(items) > 1 else batch, part)
    service.count_agreement(prediction, merge_predictions([i.prediction for i in items]))


def own_batch(item: Followup) -> Batch:
    """The request's rows as the other version reads them: the answered batch when the columns match."""
    if item.service.same_columns:
        return item.batch
    return item.parse(item.other, item.document)


def _shadow_failed(item: Followup, exc: Exception, elapsed: float) -> None:
    shadow = item.other
    if isinstance(exc, RequestError):
        code = exc.status
    else:
        shadow.metrics.prediction_errors += 1
        code = 500
    shadow.metrics.request(item.route, code, elapsed)


def _canary(items: list[Followup]) -> None:
    """The stable version answers the canary's rows: compared only (no metrics, no log)."""
    first = items[0]
    stable = first.other
    try:
        answer = stable.run(merge_batches([i.batch for i in items]) if len(items) > 1 else own_batch(first))
    except (RequestError, PredictionFailed) as exc:  # run() already logged a failure inside the model
        if len(items) > 1:
            for item in items:
                _guarded(_canary, [item])
            return
        log.debug("stable %s@%s did not answer a canary's rows: %s", stable.name, stable.version, exc)
        return
    first.service.count_agreement(merge_predictions([i.prediction for i in items]), answer)


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
