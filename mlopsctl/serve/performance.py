"""Live performance of one served version: labels joined to its answers, over a sliding window.

Each labelled row is kept with the time its label arrived; on every scrape the rows older than
the window are dropped and the spec's metric (``monitoring.performance.metric``) is computed over
the rest with scikit-learn's own functions (the serving image has scikit-learn already).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae")
METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS


@dataclass(frozen=True)
class Labelled:
    """One row: when its label came, the truth, the answer and (classifiers) the positive-class score."""

    at: float
    truth: Any
    answer: Any
    scores: tuple[float, ...] | None


class LivePerformance:
    """The labelled rows of one version inside the window, and the metric over them."""

    def __init__(self, metric: str, window_seconds: float, classes: list[Any] | None) -> None:
        self.metric = metric
        self.window = window_seconds
        self.classes = classes
        self.rows: deque[Labelled] = deque()

    def add(self, row: Labelled) -> None:
        self.rows.append(row)

    def current(self, now: float | None = None) -> tuple[float | None, int]:
        """(the metric, or None when it cannot be computed yet; labelled rows in the window)."""
        horizon = (now if now is not None else time.time()) - self.window
        while self.rows and self.rows[0].at < horizon:
            self.rows.popleft()
        if not self.rows:
            return None, 0
        try:
            value = compute(self.metric, list(self.rows), self.classes)
        except ValueError:  # e.g. ROC AUC with one class only in the window
            return None, len(self.rows)
        return (value if math.isfinite(value) else None), len(self.rows)


def compute(metric: str, rows: list[Labelled], classes: list[Any] | None) -> float:
    """The metric over ``rows``; ValueError when it is undefined for them."""
    from sklearn import metrics as sk

    truth = [r.truth for r in rows]
    answers = [r.answer for r in rows]
    if metric == "accuracy":
        return float(sk.accuracy_score(truth, answers))
    if metric == "f1":
        return _f1(truth, answers, classes)
    if metric == "roc_auc":
        return _roc_auc(rows, classes)
    if metric == "rmse":
        return math.sqrt(float(sk.mean_squared_error(truth, answers)))
    if metric == "mae":
        return float(sk.mean_absolute_error(truth, answers))
    raise ValueError(f"unknown metric {metric}")


def _f1(truth: list[Any], answers: list[Any], classes: list[Any] | None) -> float:
    from sklearn import metrics as sk

    if classes is not None and len(classes) == 2:
        return float(sk.f1_score(truth, answers, pos_label=classes[-1], zero_division=0.0))
    return float(sk.f1_score(truth, answers, average="macro", labels=classes, zero_division=0.0))


def _roc_auc(rows: list[Labelled], classes: list[Any] | None) -> float:
    from sklearn import metrics as sk

    if not classes or any(r.scores is None for r in rows):
        raise ValueError("ROC AUC needs class probabilities")
    position = {c: i for i, c in enumerate(classes)}
    truth = [position[r.truth] for r in rows]
    if len(set(truth)) < 2:
        raise ValueError("ROC AUC needs both classes in the window")
    if len(classes) == 2:
        return float(sk.roc_auc_score(truth, [r.scores[-1] for r in rows if r.scores is not None]))
    scores = [list(r.scores) for r in rows if r.scores is not None]
    return float(sk.roc_auc_score(truth, scores, multi_class="ovr", labels=list(range(len(classes)))))
