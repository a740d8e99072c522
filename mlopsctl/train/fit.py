"""Fit and evaluate: the part of training that turns a spec and a frame into a fitted pipeline and its metrics.

Pure computation, no files, no tracking: ``train`` and ``reproduce`` both call it, so a
reproduction runs exactly the code the original run did.
"""

from __future__ import annotations

import inspect
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlopsctl.contract.records import Reference, Signature
from mlopsctl.errors import CheckFailed
from mlopsctl.features.compile import (
    build_pipeline,
    estimator_class,
    feature_frame,
    reference_for,
    signature_for,
    transformed_width,
)
from mlopsctl.registry.artifacts import dump_pipeline
from mlopsctl.spec.models import ModelSpec
from mlopsctl.train.evaluate import (
    Latency,
    classification_metrics,
    predict_held_out,
    regression_metrics,
    single_row_latency,
)
from mlopsctl.train.grid import GridOutcome, run_grid
from mlopsctl.train.preflight import check_features_have_values, target_values
from mlopsctl.train.progress import ProgressFn, no_progress
from mlopsctl.train.split import Split, split_rows


@dataclass
class Fitted:
    """A fitted pipeline, how it was made, and how it did on the held-out rows."""

    pipeline: Pipeline
    params: dict[str, Any]
    """The estimator's parameters, including the grid's best and a defaulted random_state."""
    split: Split
    metrics: dict[str, float]
    """The spec's metrics on the held-out rows, then the single-row latency percentiles."""
    features: pd.DataFrame
    """Every row's features, as the pipeline takes them."""
    held_out_predictions: np.ndarray[Any, Any]
    signature: Signature
    reference: Reference
    """Training distributions of the features, and of the held-out predictions."""
    grid: GridOutcome | None = None
    latency: Latency | None = None
    artifact: bytes | None = None
    """The skops bytes of the pipeline, when asked for (serialised while the evaluation runs)."""

    @property
    def train_features(self) -> pd.DataFrame:
        return self.features.iloc[self.split.train]

    @property
    def test_features(self) -> pd.DataFrame:
        return self.features.iloc[self.split.test]

    @property
    def classes(self) -> list[Any] | None:
        found = getattr(self.pipeline.named_steps["model"], "classes_", None)
        return [c.item() if isinstance(c, np.generic) else c for c in found] if found is not None else None


def seeded_params(spec: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` plus ``random_state`` = the split seed when the estimator takes one and none is set.

    Without it a forest would differ on every run and no version could be reproduced.
    """
    accepted = inspect.signature(estimator_class(spec)).parameters
    if "random_state" in accepted and params.get("random_state") is None:
        return {**params, "random_state": spec.training.split.seed}
    return dict(params)


def fit_and_evaluate(
    spec: ModelSpec,
    frame: pd.DataFrame,
    *,
    source: str,
    params: dict[str, Any],
    grid: bool = False,
    latency: bool = True,
    serialize: bool = False,
    progress: ProgressFn = no_progress,
) -> Fitted:
    """Split ``frame``, fit the pipeline (or run the grid and refit its best), and evaluate on the held-out rows.

    With ``serialize`` the fitted pipeline is also dumped to skops bytes, in a background thread
    while the held-out rows are scored (predictions and quantiles leave the interpreter lock free
    much of the time); the single-row timing starts only once the dump is done, so it is not disturbed.
    """
    y = target_values(spec, frame, source)
    features = feature_frame(spec, frame)
    check_features_have_values(spec, features, source)
    split = split_rows(spec, frame, y)
    train_x, train_y = features.iloc[split.train], y[split.train]
    width = transformed_width(spec, train_x) if spec.feature_selection is not None else None
    pipeline = build_pipeline(spec, params, width=width)
    outcome = None
    if grid:
        outcome = _grid(spec, pipeline, train_x, train_y, progress)
        pipeline.set_params(**{f"model__{name}": value for name, value in outcome.best_params.items()})
        params = {**params, **outcome.best_params}
    _fit(spec, pipeline, train_x, train_y, progress)
    test_x, test_y = features.iloc[split.test], y[split.test]
    progress("Evaluating", 0, None)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlopsctl-skops") as pool:
        dumped = pool.submit(dump_pipeline, pipeline) if serialize else None
        predictions, scores = predict_held_out(pipeline, test_x, spec.evaluation.metrics)
        metrics = _metrics(spec, pipeline, test_y, predictions, scores)
        signature = signature_for(spec, train_x, pipeline)
        reference = reference_for(spec, train_x, predictions, signature.classes)
        artifact = dumped.result() if dumped is not None else None
    timed = single_row_latency(pipeline, test_x, signature, reference, progress=progress) if latency else None
    if timed is not None:
        metrics.update(timed.percentiles)
    return Fitted(
        pipeline, params, split, metrics, features, predictions, signature, reference, outcome, timed, artifact
    )


def _grid(
    spec: ModelSpec, pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray[Any, Any], progress: ProgressFn
) -> GridOutcome:
    classes = sorted(np.unique(y).tolist()) if spec.training.task == "classification" else None
    try:
        return run_grid(spec, pipeline, x, y, classes, progress)
    except (ValueError, TypeError) as exc:
        raise _fit_error(spec, exc, " in the grid search") from exc


def _fit(spec: ModelSpec, pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray[Any, Any], progress: ProgressFn) -> None:
    progress(f"Fitting {spec.training.estimator.rsplit('.', 1)[-1]} on {len(x)} rows", 0, None)
    try:
        pipeline.fit(x, y)
    except (ValueError, TypeError) as exc:
        raise _fit_error(spec, exc, "") from exc


def _fit_error(spec: ModelSpec, exc: Exception, where: str) -> CheckFailed:
    message = " ".join(str(exc).split())
    return CheckFailed(
        f"{spec.training.estimator.rsplit('.', 1)[-1]} could not be fitted{where}: {message}",
        title="Training failed",
        hint=f"check training.params and training.grid in models/{spec.name}/model.yaml",
    )


def _metrics(
    spec: ModelSpec, pipeline: Pipeline, y: np.ndarray[Any, Any], predictions: np.ndarray[Any, Any], scores: Any
) -> dict[str, float]:
    wanted = spec.evaluation.metrics
    if spec.training.task == "regression":
        return regression_metrics(wanted, y, predictions)
    classes = list(pipeline.named_steps["model"].classes_)
    return classification_metrics(wanted, y, predictions, scores, classes)
