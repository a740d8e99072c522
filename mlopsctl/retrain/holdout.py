"""The running version scored on the fresh data's hold-out: the same rows train scores the candidate on.

The split is the spec's (``training.split``, the same function and seed train uses), so the
candidate's held-out metrics from train and these come from the same rows.
"""

from __future__ import annotations

from typing import Any

from mlopsctl.features.compile import feature_frame
from mlopsctl.spec.models import ModelSpec
from mlopsctl.train.evaluate import classification_metrics, predict_held_out, regression_metrics
from mlopsctl.train.preflight import target_values
from mlopsctl.train.split import split_rows


def held_out_metrics(spec: ModelSpec, frame: Any, source: str, pipeline: Any) -> tuple[dict[str, float], int]:
    """``pipeline``'s metrics on the held-out rows of ``frame`` under the spec's split, and how many rows."""
    y = target_values(spec, frame, source)
    split = split_rows(spec, frame, y)
    test_x, test_y = feature_frame(spec, frame).iloc[split.test], y[split.test]
    wanted = spec.evaluation.metrics
    predictions, scores = predict_held_out(pipeline, test_x, wanted)
    if spec.training.task == "regression":
        return regression_metrics(wanted, test_y, predictions), len(split.test)
    classes = list(pipeline.steps[-1][1].classes_)
    return classification_metrics(wanted, test_y, predictions, scores, classes), len(split.test)
