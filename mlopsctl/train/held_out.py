"""Any fitted pipeline scored on a data set's held-out rows: the same rows train scores its candidate on.

The split is the spec's (``training.split``, the same function and seed train uses), so a version
already registered (retrain's running version) and a candidate trained on the same data are judged
on the same rows.
"""

from __future__ import annotations

from typing import Any

from mlopsctl.features.compile import feature_frame
from mlopsctl.spec.models import ModelSpec
from mlopsctl.train.evaluate import classification_metrics, predict_held_out, regression_metrics
from mlopsctl.train.preflight import target_values
from mlopsctl.train.split import split_rows


def score_on_held_out(spec: ModelSpec, frame: Any, source: str, pipeline: Any) -> tuple[dict[str, float], int]:
    """``pipeline``'s metrics (the spec's ``evaluation.metrics``) on the held-out rows of ``frame`` under the
    spec's split, and how many rows; ``source`` names the data in errors about its target column."""
    y = target_values(spec, frame, source)
    split = split_rows(spec, frame, y)
    test_x, test_y = feature_frame(spec, frame).iloc[split.test], y[split.test]
    wanted = spec.evaluation.metrics
    predictions, scores = predict_held_out(pipeline, test_x, wanted)
    if spec.training.task == "regression":
        return regression_metrics(wanted, test_y, predictions), len(split.test)
    classes = list(pipeline.steps[-1][1].classes_)
    return classification_metrics(wanted, test_y, predictions, scores, classes), len(split.test)
