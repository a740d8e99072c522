"""Checks on the data that only training cares about: a usable label and features that vary.

The data checks (``mlopsctl data check``) say whether the data meets the spec's expectations;
these say whether a model can learn from it at all. Each failure names the column, the file and
what to do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlopsctl.errors import CheckFailed
from mlopsctl.spec.models import ModelSpec


def target_values(spec: ModelSpec, frame: pd.DataFrame, source: str) -> np.ndarray[Any, Any]:
    """The label column as a numpy array: float for regression, the declared labels for classification."""
    target = spec.data.target
    if target not in frame.columns:
        raise CheckFailed(
            f"the target column '{target}' is not in {source}",
            hint=f"add it, or point data.target at the label column (columns: {', '.join(map(str, frame.columns))})",
        )
    series = frame[target]
    missing = int(series.isna().sum())
    if missing:
        raise CheckFailed(
            f"the target column '{target}' has {missing} missing values in {source}; every training row needs a label",
            hint="drop the unlabelled rows from the data file",
        )
    if spec.training.task == "regression":
        return _numeric_target(series, target, source)
    return _class_labels(series, spec, source)


def _numeric_target(series: pd.Series, target: str, source: str) -> np.ndarray[Any, Any]:
    values = pd.to_numeric(series, errors="coerce")
    if values.isna().any():
        bad = series[values.isna()].iloc[0]
        raise CheckFailed(
            f"the target column '{target}' in {source} must be numeric for regression; found {bad!r}",
            hint="fix the values, or set training.task: classification",
        )
    return values.to_numpy(dtype=float)


def _class_labels(series: pd.Series, spec: ModelSpec, source: str) -> np.ndarray[Any, Any]:
    declared = spec.data.columns[spec.data.target]
    if declared == "integer":
        labels = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.int64)
    elif declared == "boolean":
        labels = series.to_numpy(dtype=bool)
    elif declared == "float":
        labels = series.to_numpy(dtype=float)
    else:
        labels = series.astype(str).to_numpy(dtype=object)
    first = labels[0]
    if bool(np.all(labels == first)):
        raise CheckFailed(
            f"the target column '{spec.data.target}' has one class ({first!r}) in all {len(labels)} rows of "
            f"{source}; a classifier needs at least two",
            hint="train on data that holds every outcome",
        )
    return labels


def check_features_vary(spec: ModelSpec, features: pd.DataFrame, source: str) -> None:
    """Refuse features that are empty or hold one value in every row: they cannot help the model."""
    found = [(name, problem) for name in features.columns if (problem := _constant(features[name])) is not None]
    if not found:
        return
    listing = "; ".join(f"feature '{name}' {problem}" for name, problem in found)
    raise CheckFailed(
        f"in {source}, {listing}, so {'it' if len(found) == 1 else 'they'} cannot help the model",
        title="Unusable features",
        hint=f"remove {'it' if len(found) == 1 else 'them'} from features in models/{spec.name}/model.yaml",
    )


def _constant(column: pd.Series) -> str | None:
    values = column.to_numpy()
    if values.dtype == object:
        present = values[~pd.isna(values)]
        if present.size == 0:
            return "has no values"
        return f"has the same value ({present[0]!r}) in every row" if bool(np.all(present == present[0])) else None
    if values.size == 0 or bool(np.isnan(values).all()):
        return "has no values"
    low, high = np.nanmin(values), np.nanmax(values)
    return f"has the same value ({_number(low)}) in every row" if low == high else None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
