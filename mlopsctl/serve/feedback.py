"""Feedback: ground-truth labels for logged answers, checked, kept durably, joined to the answers.

``POST /feedback`` takes a batch::

    {"labels": [{"id": "4f2a9c1e07b3-1", "label": 1},
                {"id": "4f2a9c1e07b3-2", "row": 3, "label": 0}]}

``id`` is the request id the answer carried (``X-Request-Id``); ``row`` is the row of that
request (0 when left out: a one-row request). The batch is taken whole or not at all: any bad row
refuses it, and the answer lists every bad row (``index`` in the batch and ``id``), with the status
of the first one: 422 for a malformed row or a label of the wrong type for the answering version
(a class it knows for classifiers, a number for regressors), 404 for an id no logged answer has,
409 for a row labelled before (or twice in the batch). Accepted labels are appended to
``labels.jsonl`` next to the prediction log and fsynced before the 200, so a label once
acknowledged is never lost; on start-up they are read back, so a duplicate stays a duplicate.

The service keeps the latest ``INDEX_REQUESTS`` logged answers in memory to join labels to, and
reads them back from the newest log files when it starts (at most ``INDEX_BYTES`` of them).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mlopsctl.contract.batch import Batch, Prediction
from mlopsctl.serve.inputs import RequestError
from mlopsctl.serve.performance import Labelled, LivePerformance
from mlopsctl.serve.predlog import LABELS_FILE, LogSettings, PredictionLog, RequestIds, log_files

INDEX_REQUESTS = 200_000
"""Logged answers kept in memory for labels to join to (older ones: 404 unknown id)."""
INDEX_BYTES = 128 * 2**20
"""At start-up, the newest log files are read back until this much (bounds the start-up time)."""


@dataclass(frozen=True)
class PerformanceSettings:
    """The spec's ``monitoring.performance.metric`` and ``monitoring.window`` in seconds."""

    metric: str
    window_seconds: float


class _Answer(NamedTuple):  # a tuple: made once per logged request, on the request path
    model: Any  # the ServedModel that answered
    labels: np.ndarray[Any, Any]
    probabilities: np.ndarray[Any, Any] | None


@dataclass(frozen=True)
class _Problem:
    status: int
    index: int
    request_id: Any
    message: str

    def text(self) -> str:
        return f"row {self.index} (id {self.request_id!r}): {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.request_id, "status": self.status, "error": self.message}


class FeedbackRefused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["error"])
        self.status = status
        self.body = body


class Recorder:
    """Request ids, the prediction log, the answers labels join to, and the labels kept."""

    def __init__(
        self, settings: LogSettings | None, performance: PerformanceSettings | None = None, *, seed: int | None = None
    ) -> None:
        self.ids = RequestIds()
        self.settings = settings
        self.performance = performance
        self.log = PredictionLog(settings) if settings is not None else None
        self.answers: OrderedDict[str, _Answer] = OrderedDict()
        self.shadows: OrderedDict[str, _Answer] = OrderedDict()
        """A shadow's answers to the same requests: labels join to them too (its own live metric)."""
        self.labelled: set[tuple[str, int]] = set()
        self._random = random.Random(seed)
        if settings is not None:
            self.labelled = _read_labelled(settings.folder / LABELS_FILE)

    def attach(self, models: list[Any]) -> None:
        """The served versions: their live metric, and their answers logged before this start."""
        for model in models:
            model.metrics.performance = self.live(model)
        if self.settings is not None:
            by_version = {model.version: model for model in models}
            for request_id, answer in _read_answers(self.settings.folder, by_version):
                (self.shadows if answer.model.role == "shadow" else self.answers)[request_id] = answer

    def live(self, model: Any) -> LivePerformance | None:
        """The live performance of one served version (None without a declared metric)."""
        if self.performance is None:
            return None
        return LivePerformance(self.performance.metric, self.performance.window_seconds, model.classes)

    # --- the request path -------------------------------------------------------------------

    def record(self, request_id: str, model: Any, batch: Batch, prediction: Prediction) -> None:
        """Log one answer (when sampled) and remember it for labels; never blocks."""
        settings = self.settings
        if self.log is None or settings is None:
            return
        if settings.sample < 1.0 and self._random.random() >= settings.sample:
            return
        self._keep(self.answers, request_id, model, batch, prediction)

    def record_shadow(self, request_id: str, model: Any, batch: Batch, prediction: Prediction) -> None:
        """Log a shadow's answer to a request whose answer was logged (same id, role shadow)."""
        if self.log is not None and request_id in self.answers:
            self._keep(self.shadows, request_id, model, batch, prediction)

    def _keep(
        self, kept: OrderedDict[str, _Answer], request_id: str, model: Any, batch: Batch, prediction: Prediction
    ) -> None:
        assert self.log is not None
        entry = (request_id, time.time(), model, batch.columns, batch.rows, prediction.labels, prediction.probabilities)
        if not self.log.submit(entry):
            return
        kept[request_id] = _Answer(model, prediction.labels, prediction.probabilities)
        if len(kept) > INDEX_REQUESTS:
            kept.popitem(last=False)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()

    # --- feedback ---------------------------------------------------------------------------

    def feedback(self, document: Any, max_rows: int) -> dict[str, Any]:
        """Check a batch, append it durably, join it; raises FeedbackRefused or RequestError."""
        if self.log is None or self.settings is None:
            raise RequestError.one(
                409, "the prediction log is off (serving.prediction_log.enabled: false): no answers to join labels to"
            )
        rows = _rows(document, max_rows)
        joined, problems = self._check(rows)
        if problems:
            raise FeedbackRefused(problems[0].status, _refusal(problems))
        now = time.time()
        self._append(joined, now)
        for (request_id, row, label), answer in joined:
            self._join(answer, row, label, now)
            shadow = self.shadows.get(request_id)
            if shadow is not None and row < len(shadow.labels):
                self._join(shadow, row, label, now)
            self.labelled.add((request_id, row))
        return {"accepted": len(joined)}

    def _check(self, rows: list[Any]) -> tuple[list[tuple[tuple[str, int, Any], _Answer]], list[_Problem]]:
        joined: list[tuple[tuple[str, int, Any], _Answer]] = []
        problems: list[_Problem] = []
        seen: dict[tuple[str, int], int] = {}
        for index, item in enumerate(rows):
            found = self._check_row(index, item, seen)
            if isinstance(found, _Problem):
                problems.append(found)
            else:
                joined.append(found)
        return joined, problems

    def _check_row(
        self, index: int, item: Any, seen: dict[tuple[str, int], int]
    ) -> _Problem | tuple[tuple[str, int, Any], _Answer]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or "label" not in item:
            shown = item.get("id") if isinstance(item, dict) else None
            return _Problem(422, index, shown, 'expected an object with "id" (a string) and "label"')
        request_id, row, label = item["id"], item.get("row", 0), item["label"]
        extra = sorted(set(item) - {"id", "row", "label"})
        if extra:
            return _Problem(422, index, request_id, f"unknown field {extra[0]!r}; fields: id, row, label")
        answer = self.answers.get(request_id)
        if answer is None:
            return _Problem(404, index, request_id, "unknown request id: no logged answer has it")
        if type(row) is not int or not 0 <= row < len(answer.labels):
            return _Problem(422, index, request_id, f"row must be an integer from 0 to {len(answer.labels) - 1}")
        key = (request_id, row)
        if key in self.labelled:
            return _Problem(409, index, request_id, f"row {row} of this request is already labelled")
        if key in seen:
            return _Problem(409, index, request_id, f"duplicate of row {seen[key]} in this batch")
        seen[key] = index
        wrong = label_problem(answer.model, label)
        if wrong is not None:
            return _Problem(422, index, request_id, wrong)
        return (request_id, row, label), answer

    def _append(self, joined: list[tuple[tuple[str, int, Any], _Answer]], now: float) -> None:
        assert self.settings is not None
        lines = []
        for (request_id, row, label), answer in joined:
            model = answer.model
            entry = {"id": request_id, "row": row, "label": label, "time": now}
            entry |= {"model": model.name, "version": model.version, "role": model.role}
            lines.append(json.dumps(entry, separators=(",", ":")) + "\n")
        path = self.settings.folder / LABELS_FILE
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, "".join(lines).encode())  # one write: a kill leaves whole lines or none
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    @staticmethod
    def _join(answer: _Answer, row: int, label: Any, now: float) -> None:
        model = answer.model
        model.metrics.feedback += 1
        live = model.metrics.performance
        if live is None:
            return
        predicted = answer.labels[row].item()
        scores = tuple(answer.probabilities[row].tolist()) if answer.probabilities is not None else None
        truth = _as_class(label, model.classes) if model.classes else float(label)
        live.add(Labelled(now, truth, predicted, scores))


def _rows(document: Any, max_rows: int) -> list[Any]:
    if not isinstance(document, dict) or not isinstance(document.get("labels"), list):
        raise RequestError.one(422, 'expected a JSON object {"labels": [{"id": ..., "label": ...}, ...]}')
    rows: list[Any] = document["labels"]
    if not rows:
        raise RequestError.one(422, '"labels" is empty')
    if len(rows) > max_rows:
        raise RequestError.one(413, f"{len(rows)} labels in one batch; at most {max_rows}")
    return rows


def _refusal(problems: list[_Problem]) -> dict[str, Any]:
    first = problems[0].text()
    more = len(problems) - 1
    summary = first if not more else f"{first} (and {more} more problem{'s' if more > 1 else ''})"
    return {"error": summary, "accepted": 0, "problems": [p.to_dict() for p in problems]}


def label_problem(model: Any, label: Any) -> str | None:
    """Why ``label`` cannot be a truth for ``model``'s answers (None when it can)."""
    if model.classes:
        if _as_class(label, model.classes) is None:
            shown = ", ".join(json.dumps(c) for c in model.classes)
            return f"label {json.dumps(label)} is not a class of {model.name}@{model.version} (classes: {shown})"
        return None
    if isinstance(label, bool) or not isinstance(label, int | float) or not math.isfinite(label):
        return f"label {json.dumps(label)} is not a number ({model.name}@{model.version} is a regressor)"
    return None


def _as_class(label: Any, classes: list[Any]) -> Any:
    """The class ``label`` names, of the same kind (a string is never the number 1), else None."""
    for known in classes:
        if _kind(known) == _kind(label) and known == label:
            return known
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _read_answers(folder: Path, by_version: dict[str, Any]) -> list[tuple[str, _Answer]]:
    """The newest logged answers of the served versions (up to INDEX_REQUESTS), oldest first."""
    found: list[tuple[str, _Answer]] = []
    read = 0
    for path in reversed(log_files(folder)):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        read += len(data)
        for raw in reversed(data.splitlines()):
            entry = _answer(raw, by_version)
            if entry is not None:
                found.append(entry)
        if len(found) >= INDEX_REQUESTS or read >= INDEX_BYTES:
            break
    return found[:INDEX_REQUESTS][::-1]


def _answer(raw: bytes, by_version: dict[str, Any]) -> tuple[str, _Answer] | None:
    try:
        line = json.loads(raw)
        model = by_version.get(str(line["version"]))
        if model is None:
            return None
        probabilities = line.get("probabilities")
        scores = np.asarray(probabilities, dtype=np.float64) if probabilities is not None else None
        return str(line["id"]), _Answer(model, np.asarray(line["outputs"]), scores)
    except (ValueError, KeyError, TypeError):  # a torn last line after a kill
        return None


def _read_labelled(path: Path) -> set[tuple[str, int]]:
    """(id, row) of every label kept before; a torn last line (a kill mid-write) is skipped."""
    found: set[tuple[str, int]] = set()
    try:
        with path.open("rb") as handle:
            for raw in handle:
                try:
                    entry = json.loads(raw)
                    found.add((str(entry["id"]), int(entry.get("row", 0))))
                except (ValueError, KeyError, TypeError):
                    continue
    except FileNotFoundError:
        pass
    return found
