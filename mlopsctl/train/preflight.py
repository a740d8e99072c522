"""Checks on the data that only training cares about: a usable label and features that hold values.

The data checks (``mlopsctl data check``) say whether the data meets the spec's expectations;
these say whether a model can learn from it at all. Each failure names the column, the file and
what to do.

A feature with the same value in every row is *not* refused here: scikit-learn fits around it
(real data sets have such columns; 8x8 digits have three blank pixels), and the data checks
report it as a ``consistency/constant`` warning that the run records. A feature with no value at
all is refused: imputers drop such a column while fitting, so the fitted pipeline would no longer
take the inputs the version's signature promises, and the drift reference would have nothing to bin.
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


def check_features_have_values(spec: ModelSpec, features: pd.DataFrame, source: str) -> None:
    """Refuse features with no value in any row: nothing to learn from, and imputers would drop them."""
    empty = [str(name) for name in features.columns if _empty(features[name])]
    if not empty:
        return
    listing = ", ".join(f"'{name}'" for name in empty)
    one = len(empty) == 1
    raise CheckFailed(
        f"in {source}, {'feature' if one else 'features'} {listing} {'has' if one else 'have'} no values, "
        f"so {'it' if one else 'they'} cannot help the model",
        title="Unusable features",
        hint=f"fill {'it' if one else 'them'}, or remove {'it' if one else 'them'} from features in "
        f"models/{spec.name}/model.yaml",
    )


def _empty(column: pd.Series) -> bool:
    return bool(column.isna().all())
