"""Metrics on the held-out rows, single-row prediction latency, and the spec's gates.

Classification: ``roc_auc`` (binary: the positive class's probability; multiclass: one-vs-rest),
``accuracy``, ``f1``, ``precision``, ``recall`` (binary: the greater class label is positive;
multiclass: macro averages), ``log_loss`` and ``balanced_accuracy``. Regression: ``rmse``,
``mae``, ``r2`` and ``mape``.

Latency is measured the way the prediction service will answer: the service's own predictor
(:func:`mlopsctl.contract.predictor.build_predictor`, which serving uses too, so train does not
import serve: the pipeline compiled to its numpy fast path
when that path agrees with the pipeline, else the pipeline itself) predicting one held-out row at
a time, for up to :data:`LATENCY_ROWS` rows, stopping early once :data:`LATENCY_BUDGET_SECONDS`
have been spent and at least :data:`LATENCY_MIN_ROWS` were timed (a slow model on a busy machine
would otherwise make every run wait on its own stopwatch). A gate such as ``p95_latency_ms <= 50``
therefore judges the version as it will be served.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from mlopsctl.contract.batch import Batch, is_numeric_type
from mlopsctl.contract.predictor import ModelUnusable, build_predictor
from mlopsctl.contract.records import GateResult, Reference, Signature
from mlopsctl.errors import CheckFailed
from mlopsctl.spec.models import GATE_PATTERN, SERVING_METRICS
from mlopsctl.train.progress import ProgressFn, no_progress

LATENCY_ROWS = 200
LATENCY_MIN_ROWS = 30
LATENCY_BUDGET_SECONDS = 2.0
PROBABILITY_METRICS = ("roc_auc", "log_loss")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}


def predict_held_out(
    pipeline: Pipeline, features: pd.DataFrame, wanted: list[str]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """Predictions, and class probabilities (or decision scores) when a wanted metric needs them."""
    # Transform once and ask the estimator twice: the same numbers as pipeline.predict and
    # pipeline.predict_proba, without running every feature transformer a second time.
    transformed = pipeline[:-1].transform(features)
    model = pipeline.steps[-1][1]
    predictions = model.predict(transformed)
    if not any(name in PROBABILITY_METRICS for name in wanted):
        return predictions, None
    if hasattr(model, "predict_proba"):
        try:
            return predictions, model.predict_proba(transformed)
        except AttributeError:  # e.g. SVC(probability=False) exposes the method but refuses it
            pass
    return predictions, model.decision_function(transformed)


def classification_metrics(
    wanted: list[str], y: np.ndarray[Any, Any], predictions: np.ndarray[Any, Any], scores: Any, classes: list[Any]
) -> dict[str, float]:
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    positive = classes[-1] if binary else 1
    compute: dict[str, Callable[[], float]] = {
        "accuracy": lambda: skm.accuracy_score(y, predictions),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, predictions),
        "f1": lambda: skm.f1_score(y, predictions, average=average, pos_label=positive, zero_division=0),
        "precision": lambda: skm.precision_score(y, predictions, average=average, pos_label=positive, zero_division=0),
        "recall": lambda: skm.recall_score(y, predictions, average=average, pos_label=positive, zero_division=0),
        "roc_auc": lambda: _roc_auc(y, scores, classes),
        "log_loss": lambda: skm.log_loss(y, scores, labels=classes),
    }
    return {name: float(compute[name]()) for name in wanted if name in compute}


def _roc_auc(y: np.ndarray[Any, Any], scores: Any, classes: list[Any]) -> float:
    if len(np.unique(y)) < 2:
        raise CheckFailed(
            "roc_auc is undefined: the held-out rows hold only one class",
            hint="use a stratified split, add rows, or drop roc_auc from evaluation.metrics",
        )
    if len(classes) == 2:
        positive = scores[:, 1] if np.ndim(scores) == 2 else scores
        return float(skm.roc_auc_score(y, positive))
    return float(skm.roc_auc_score(y, scores, multi_class="ovr", labels=classes))


def regression_metrics(
    wanted: list[str], y: np.ndarray[Any, Any], predictions: np.ndarray[Any, Any]
) -> dict[str, float]:
    compute: dict[str, Callable[[], float]] = {
        "rmse": lambda: skm.root_mean_squared_error(y, predictions),
        "mae": lambda: skm.mean_absolute_error(y, predictions),
        "r2": lambda: skm.r2_score(y, predictions),
        "mape": lambda: skm.mean_absolute_percentage_error(y, predictions),
    }
    return {name: float(compute[name]()) for name in wanted if name in compute}


@dataclass(frozen=True)
class Latency:
    percentiles: dict[str, float]
    """p50_latency_ms, p95_latency_ms and p99_latency_ms."""
    rows: int
    """Single rows timed."""
    predictor: str
    """What was timed: the service's description of its predictor (fast path or pipeline)."""


def single_row_latency(
    pipeline: Pipeline,
    features: pd.DataFrame,
    signature: Signature,
    reference: Reference | None,
    rows: int = LATENCY_ROWS,
    progress: ProgressFn = no_progress,
) -> Latency:
    """p50, p95 and p99 of one-row predictions by the service's predictor, in milliseconds."""
    count = min(rows, len(features))
    predict, singles, description = _service_calls(pipeline, features.iloc[:count], signature, reference, count)
    predict(singles[0])  # warm caches and lazy imports; not counted
    timings: list[float] = []
    deadline = time.perf_counter() + LATENCY_BUDGET_SECONDS
    progress("Measuring latency", 0, count)
    for row in singles:
        start = time.perf_counter()
        predict(row)
        end = time.perf_counter()
        timings.append((end - start) * 1000.0)
        if len(timings) % 25 == 0:
            progress("Measuring latency", len(timings), count)
        if end > deadline and len(timings) >= LATENCY_MIN_ROWS:
            break
    progress("Measuring latency", count, count)
    p50, p95, p99 = np.percentile(np.asarray(timings), [50, 95, 99])
    percentiles = dict(zip(SERVING_METRICS, (float(p50), float(p95), float(p99)), strict=True))
    return Latency(percentiles, len(timings), description)


def _service_calls(
    pipeline: Pipeline, features: pd.DataFrame, signature: Signature, reference: Reference | None, count: int
) -> tuple[Callable[[Any], Any], list[Any], str]:
    """The service's predict function, one-row inputs for it, and its description."""
    try:
        predictor = build_predictor(pipeline, signature, reference)
    except ModelUnusable as exc:
        # The service would refuse this version; time the bare pipeline so the run still has a number.
        singles = [features.iloc[i : i + 1] for i in range(count)]
        return pipeline.predict, singles, f"scikit-learn pipeline ({exc})"
    description = str(getattr(predictor, "description", type(predictor).__name__))
    return predictor.predict, _single_rows(features, signature), description


def _single_rows(features: pd.DataFrame, signature: Signature) -> list[Any]:
    """Each row as the service receives it: floats (nan when missing) and str (None when missing)."""
    columns: dict[str, list[Any]] = {}
    for column in signature.inputs:
        values = features[column.name].to_numpy(dtype=object)
        if is_numeric_type(column.type):
            columns[column.name] = [float(value) for value in values]
        else:
            columns[column.name] = [None if pd.isna(value) else str(value) for value in values]
    return [Batch(1, {name: [values[i]] for name, values in columns.items()}) for i in range(len(features))]


def check_gates(gates: list[str], metrics: dict[str, float]) -> list[GateResult]:
    return [check_gate(gate, metrics) for gate in gates]


def check_gate(gate: str, metrics: dict[str, float]) -> GateResult:
    match = re.fullmatch(GATE_PATTERN, gate)
    if match is None:  # the schema rejects such gates; kept for records written by hand
        return GateResult(gate=gate, value=None, passed=False)
    name, operator, threshold = match[1], match[2], float(match[3])
    value = metrics.get(name)
    passed = value is not None and _OPERATORS[operator](value, threshold)
    return GateResult(gate=gate.strip(), value=value, passed=passed)
