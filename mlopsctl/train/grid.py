"""``train --grid``: the spec's hyperparameter grid as one experiment, with cross-validation.

Equivalent to ``GridSearchCV(pipeline, {"model__<name>": values}, cv=cv_folds, scoring=<first
metric>, refit=True)`` (same folds, same scores, same tie-breaking: the first best candidate wins),
but run candidate by candidate so progress can be shown. Every candidate's parameters and fold
scores are kept, so the run records the whole experiment. A time split cross-validates with
``TimeSeriesSplit`` so no fold trains on rows newer than the ones it is scored on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import f1_score, get_scorer, make_scorer, precision_score, recall_score
from sklearn.model_selection import ParameterGrid, TimeSeriesSplit, check_cv, cross_val_score
from sklearn.pipeline import Pipeline

from mlopsctl.spec.models import ModelSpec
from mlopsctl.train.progress import ProgressFn

_SCORERS = {
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "mape": "neg_mean_absolute_percentage_error",
    "log_loss": "neg_log_loss",
}
_POSITIVE_CLASS_METRICS: dict[str, Callable[..., Any]] = {
    "f1": f1_score,
    "precision": precision_score,
    "recall": recall_score,
}


@dataclass(frozen=True)
class GridOutcome:
    best_params: dict[str, Any]
    candidates: list[dict[str, Any]]
    """Per candidate: params, cv_scores (per fold), cv_score (mean), cv_std, rank (1 is best)."""
    scoring: str
    """The metric the candidates were ranked by (the spec's first metric)."""


def scorer_for(spec: ModelSpec, classes: list[Any] | None) -> tuple[Any, float]:
    """The scikit-learn scorer for the spec's first metric, and the sign that turns its score into the metric."""
    metric = spec.evaluation.metrics[0]
    binary = classes is not None and len(classes) == 2
    if metric in _POSITIVE_CLASS_METRICS:
        if binary:
            assert classes is not None
            return make_scorer(_POSITIVE_CLASS_METRICS[metric], pos_label=classes[-1], zero_division=0), 1.0
        return get_scorer(f"{metric}_macro"), 1.0
    if metric == "roc_auc" and not binary:
        return get_scorer("roc_auc_ovr"), 1.0
    name = _SCORERS.get(metric, metric)
    return get_scorer(name), -1.0 if name.startswith("neg_") else 1.0


def run_grid(
    spec: ModelSpec,
    pipeline: Pipeline,
    features: pd.DataFrame,
    y: np.ndarray[Any, Any],
    classes: list[Any] | None,
    progress: ProgressFn,
) -> GridOutcome:
    """Cross-validate every candidate of ``spec.training.grid`` on the training rows; the best refit is the caller's."""
    grid = {f"model__{name}": values for name, values in (spec.training.grid or {}).items()}
    candidates = list(ParameterGrid(grid))
    scorer, sign = scorer_for(spec, classes)
    folds = _folds(spec, y)
    results: list[dict[str, Any]] = []
    progress("Grid search", 0, len(candidates))
    for i, candidate in enumerate(candidates):
        model = clone(pipeline).set_params(**candidate)
        scores = cross_val_score(model, features, y, cv=folds, scoring=scorer, error_score="raise")
        results.append(_result(candidate, scores))
        progress("Grid search", i + 1, len(candidates))
    best = _rank(results)
    for result in results:
        result["cv_scores"] = [sign * s for s in result["cv_scores"]]
        result["cv_score"] = sign * result["cv_score"]
    return GridOutcome(best_params=results[best]["params"], candidates=results, scoring=spec.evaluation.metrics[0])


def _folds(spec: ModelSpec, y: np.ndarray[Any, Any]) -> Any:
    if spec.training.split.method == "time":
        return TimeSeriesSplit(n_splits=spec.training.cv_folds)
    return check_cv(spec.training.cv_folds, y, classifier=spec.training.task == "classification")


def _result(candidate: dict[str, Any], scores: np.ndarray[Any, Any]) -> dict[str, Any]:
    params = {name.removeprefix("model__"): value for name, value in candidate.items()}
    return {
        "params": params,
        "cv_scores": [float(s) for s in scores],
        "cv_score": float(np.mean(scores)),
        "cv_std": float(np.std(scores)),
    }


def _rank(results: list[dict[str, Any]]) -> int:
    """Rank by mean score, higher first, ties keeping grid order (as GridSearchCV); returns the best index."""
    order = sorted(range(len(results)), key=lambda i: (-results[i]["cv_score"], i))
    for rank, index in enumerate(order, start=1):
        results[index]["rank"] = rank
    return order[0]
