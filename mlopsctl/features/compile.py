"""Compile a model spec's features into one scikit-learn pipeline, and describe what it accepts.

The pipeline always has the same shape, which the prediction service relies on::

    Pipeline([
        ("features", ColumnTransformer([(name, transformer, [name]) for each feature],
                                       remainder="drop", verbose_feature_names_out=False)),
        ("select", SelectKBest | SelectFromModel),      # only when the spec asks for feature selection
        ("model", estimator),
    ])

Each feature's transformer is a ``Pipeline`` of an imputer and then a scaler (numeric) or an
encoder (categorical), or ``"passthrough"`` for a numeric feature with neither. The pipeline's
input is :func:`feature_frame`'s output: the feature columns in spec order, numeric as float64 and
categorical as text (pandas infers its str dtype) with NaN for missing, so training and serving see
identical values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.feature_selection import SelectFromModel, SelectKBest, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

from mlopsctl.contract.binning import categorical_reference, numeric_reference
from mlopsctl.contract.records import BinnedReference, InputColumn, Reference, Signature
from mlopsctl.errors import CheckFailed
from mlopsctl.spec.models import FeatureSpec, ModelSpec
from mlopsctl.spec.validate import load_estimator_class

SCALERS: dict[str, type[BaseEstimator]] = {
    "standard": StandardScaler,
    "minmax": MinMaxScaler,
    "robust": RobustScaler,
}
SELECTION_FOREST_TREES = 50
"""Trees in the small forest that ranks features for importance-based selection."""
REFERENCE_ROWS = 100_000
"""Most training rows the drift reference bins are computed from (a seeded sample above that)."""


def build_pipeline(spec: ModelSpec, params: dict[str, Any], *, width: int | None = None) -> Pipeline:
    """The unfitted pipeline for ``spec`` with the estimator built from ``params``.

    ``width`` is the number of columns the feature step will produce (see :func:`transformed_width`);
    when given, feature selection's ``k`` is capped at it.
    """
    steps: list[tuple[str, Any]] = [("features", feature_transformer(spec))]
    if spec.feature_selection is not None:
        k = spec.feature_selection.k if width is None else min(spec.feature_selection.k, width)
        steps.append(("select", _selector(spec, k)))
    steps.append(("model", estimator_class(spec)(**params)))
    return Pipeline(steps)


def estimator_class(spec: ModelSpec) -> type[BaseEstimator]:
    found = load_estimator_class(spec.training.estimator)
    if isinstance(found, str):
        raise CheckFailed(found, title="Unknown estimator", hint="fix training.estimator in the model spec")
    return found


def feature_transformer(spec: ModelSpec) -> ColumnTransformer:
    transformers = [(feature.name, _transformer(feature), [feature.name]) for feature in spec.features]
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def _transformer(feature: FeatureSpec) -> Pipeline | str:
    steps: list[tuple[str, BaseEstimator]] = []
    imputer = _imputer(feature)
    if imputer is not None:
        steps.append(("impute", imputer))
    if feature.kind == "categorical":
        steps.append(("encode", _encoder(feature)))
    elif feature.scale != "none":
        steps.append(("scale", SCALERS[feature.scale]()))
    return Pipeline(steps) if steps else "passthrough"


def _imputer(feature: FeatureSpec) -> SimpleImputer | None:
    default = "median" if feature.kind == "numeric" else "most_frequent"
    strategy = feature.impute or default
    if strategy == "none":
        return None
    if strategy != "constant":
        return SimpleImputer(strategy=strategy)
    fill: str | float = str(feature.fill_value) if feature.kind == "categorical" else float(feature.fill_value or 0)
    return SimpleImputer(strategy="constant", fill_value=fill)


def _encoder(feature: FeatureSpec) -> BaseEstimator:
    if feature.encode == "ordinal":
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return OneHotEncoder(handle_unknown="ignore", sparse_output=False)


def _selector(spec: ModelSpec, k: int) -> BaseEstimator:
    classification = spec.training.task == "classification"
    assert spec.feature_selection is not None
    if spec.feature_selection.method == "correlation":
        return SelectKBest(f_classif if classification else f_regression, k=k)
    forest_class = RandomForestClassifier if classification else RandomForestRegressor
    forest = forest_class(
        n_estimators=SELECTION_FOREST_TREES, max_depth=8, random_state=spec.training.split.seed, n_jobs=1
    )
    return SelectFromModel(forest, max_features=k, threshold=-np.inf)


# --------------------------------------------------------------------------- the pipeline's input


def feature_frame(spec: ModelSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns of ``frame`` as the pipeline takes them: numeric float, categorical str or NaN."""
    columns = {feature.name: _feature_column(feature, frame[feature.name]) for feature in spec.features}
    return pd.DataFrame(columns, index=frame.index, copy=False)


def _feature_column(feature: FeatureSpec, series: pd.Series) -> np.ndarray[Any, Any]:
    if feature.kind == "numeric":
        if series.dtype == np.float64:
            return series.to_numpy()
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    values = series.to_numpy(dtype=object, na_value=np.nan)
    if isinstance(series.dtype, pd.StringDtype):
        return values  # already text: what the loader gives category and string columns
    missing = pd.isna(values)
    out = np.empty(len(values), dtype=object)
    out[missing] = np.nan
    out[~missing] = [_category_text(value) for value in values[~missing]]
    return out


def _category_text(value: Any) -> str:
    """A category as text; whole floats lose their ``.0`` so 1 and 1.0 are the same category."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def transformed_width(spec: ModelSpec, features: pd.DataFrame) -> int:
    """How many columns the feature step produces on ``features`` (one-hot widens categoricals)."""
    width = 0
    for feature in spec.features:
        if feature.kind == "numeric" or feature.encode == "ordinal":
            width += 1
            continue
        column = features[feature.name]
        width += int(column.nunique(dropna=True))
        if column.isna().any() and _adds_category(feature, column):
            width += 1
    return width


def _adds_category(feature: FeatureSpec, column: pd.Series) -> bool:
    if feature.impute == "none":
        return True
    return feature.impute == "constant" and str(feature.fill_value) not in set(column.dropna())


# --------------------------------------------------------------------------- signature and reference


def signature_for(spec: ModelSpec, frame: pd.DataFrame, pipeline: Pipeline) -> Signature:
    """What the service accepts: the features in order, their types, nullability and seen categories."""
    inputs = [_input_column(spec, feature, frame[feature.name]) for feature in spec.features]
    classes = getattr(pipeline.named_steps["model"], "classes_", None)
    return Signature(
        inputs=inputs,
        task=spec.training.task,
        target=spec.data.target,
        classes=[_plain(c) for c in classes] if classes is not None else None,
        data_columns=list(spec.data.columns),
    )


def _input_column(spec: ModelSpec, feature: FeatureSpec, column: pd.Series) -> InputColumn:
    completeness = spec.quality.completeness
    allowed_missing = completeness.max_missing.get(feature.name, completeness.default_max_missing)
    categories = None
    if feature.kind == "categorical":
        categories = sorted({_category_text(v) for v in column.dropna().unique()})
    return InputColumn(
        name=feature.name,
        type=spec.data.columns[feature.name],
        nullable=bool(allowed_missing > 0 or column.isna().any()),
        categories=categories,
    )


def _plain(value: Any) -> Any:
    """numpy scalars as plain Python values, so records serialise as ordinary YAML."""
    return value.item() if isinstance(value, np.generic) else value


def reference_for(
    spec: ModelSpec, train_frame: pd.DataFrame, predictions: np.ndarray[Any, Any], classes: list[Any] | None = None
) -> Reference:
    """Training distributions for drift: per feature, and of the predictions.

    Classification predictions are binned by class label (as text, in ``classes`` order when
    given); regression predictions into ``spec.monitoring.bins`` quantile bins.
    """
    bins = spec.monitoring.bins
    sample = _reference_sample(train_frame, spec.training.split.seed)
    features: dict[str, BinnedReference] = {}
    for feature in spec.features:
        column = sample[feature.name]
        features[feature.name] = (
            numeric_reference(column, bins) if feature.kind == "numeric" else categorical_reference(column)
        )
    if spec.training.task == "regression":
        prediction = numeric_reference(pd.Series(predictions, dtype=float), bins)
    else:
        prediction = _class_reference(predictions, classes)
    return Reference(features=features, prediction=prediction)


def _reference_sample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """At most :data:`REFERENCE_ROWS` rows (a seeded sample): shares within a fraction of a percent, at less cost."""
    if len(frame) <= REFERENCE_ROWS:
        return frame
    return frame.sample(n=REFERENCE_ROWS, random_state=seed)


def _class_reference(predictions: np.ndarray[Any, Any], classes: list[Any] | None) -> BinnedReference:
    values, counted = np.unique(np.asarray(predictions), return_counts=True)
    by_label = {str(_plain(value)): int(count) for value, count in zip(values, counted, strict=True)}
    if classes is None:
        labels = pd.Series(np.repeat(list(by_label), list(by_label.values())), dtype=object)
        return categorical_reference(labels)
    names = [str(c) for c in classes]
    observed = [by_label.get(name, 0) for name in names]
    total = int(sum(by_label.values()))
    shares = [count / total if total else 0.0 for count in [*observed, total - sum(observed)]]
    return BinnedReference(kind="categorical", categories=names, shares=shares, count=total)
