"""Predictors: a fitted pipeline compiled to a lean numpy program, or the pipeline itself.

The registry stores ``Pipeline([("features", ColumnTransformer), optional ("select", ...),
("model", estimator)])``. Calling it per request costs a pandas DataFrame, scikit-learn's input
validation on every step and, for forests, joblib's dispatch: milliseconds for one row. The fast
path reads the fitted parameters once (imputer statistics, scaler means and scales, one-hot
category lookups, selected columns) and replays exactly the same floating-point operations on
plain arrays; linear models become one matrix product, forests a loop over each tree's
``tree_.apply`` with leaf tables prepared at start-up, summed in the order scikit-learn sums them.

Anything the compiler does not recognise keeps the real pipeline (:class:`SklearnPredictor`).
And before a fast path is used, it must agree with the real pipeline on probe rows built from the
version's signature and reference bins (missing values and unseen categories included); if they
differ, the service uses the pipeline. Property-based tests check the same equivalence on random
rows. It lives in the contract because serving predicts with it and training times it for the
latency gate: both depend on it, neither on the other.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from mlopsctl.contract.batch import Batch, Prediction, is_numeric_type
from mlopsctl.contract.records import Reference, Signature

Array = np.ndarray[Any, Any]
FLOAT32_MAX = float(np.finfo(np.float32).max)


class InputRejected(Exception):
    """Values that passed the schema but that the model cannot take (answered with HTTP 422)."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.row = row


class NotCompilable(Exception):
    """A pipeline step the fast path does not know; the real pipeline is used instead."""


class Predictor(Protocol):
    description: str

    def predict(self, batch: Batch) -> Prediction: ...


# ---------------------------------------------------------------------------------------------
# The real pipeline


class SklearnPredictor:
    """The fitted pipeline itself, fed a DataFrame of the signature's columns."""

    def __init__(self, pipeline: Any, signature: Signature, reason: str = "") -> None:
        self.pipeline = pipeline
        self.signature = signature
        self.numeric = {c.name: is_numeric_type(c.type) for c in signature.inputs}
        self.description = "scikit-learn pipeline" + (f" ({reason})" if reason else "")

    def predict(self, batch: Batch) -> Prediction:
        frame = self._frame(batch)
        try:
            transformed = self._transform(frame)
            estimator = self._estimator()
            labels = np.asarray(estimator.predict(transformed))
            proba = estimator.predict_proba(transformed) if _has_proba(estimator) else None
        except ValueError as exc:
            raise InputRejected(f"the model rejected the input: {exc}") from exc
        return Prediction(labels, None if proba is None else np.asarray(proba, dtype=float))

    def _estimator(self) -> Any:
        steps = getattr(self.pipeline, "steps", None)
        return steps[-1][1] if steps else self.pipeline

    def _transform(self, frame: Any) -> Any:
        steps = getattr(self.pipeline, "steps", None)
        if not steps:
            return frame
        for _name, step in steps[:-1]:
            if step is None or step == "passthrough":
                continue
            frame = step.transform(frame)
        return frame

    def _frame(self, batch: Batch) -> Any:
        import pandas as pd

        data = {name: self._column(name, values) for name, values in batch.columns.items()}
        return pd.DataFrame(data, columns=list(batch.columns))

    def _column(self, name: str, values: list[Any]) -> Array:
        if self.numeric.get(name, False):
            return np.asarray(values, dtype=np.float64)
        return np.asarray([np.nan if v is None else v for v in values], dtype=object)


def _has_proba(estimator: Any) -> bool:
    return hasattr(estimator, "classes_") and hasattr(estimator, "predict_proba")


# ---------------------------------------------------------------------------------------------
# Column programs: one fitted column pipeline replayed on plain values


class NumericStep(Protocol):
    def key(self) -> tuple[Any, ...]:
        """What must be equal for two columns' steps to run as one vectorised step."""

    def apply(self, x: Array) -> Array:
        """Transform ``x`` (rows x columns, float64); may work in place and return it."""


@dataclass(frozen=True)
class Impute:
    fill: Any

    def key(self) -> tuple[Any, ...]:
        return ("impute",)

    def apply(self, x: Array) -> Array:
        return np.where(np.isnan(x), self.fill, x)


@dataclass(frozen=True)
class Shift:
    """x -= offset (StandardScaler.mean_, RobustScaler.center_)."""

    offset: Any

    def key(self) -> tuple[Any, ...]:
        return ("shift",)

    def apply(self, x: Array) -> Array:
        x -= self.offset
        return x


@dataclass(frozen=True)
class Divide:
    """x /= scale (StandardScaler, RobustScaler, MaxAbsScaler)."""

    scale: Any

    def key(self) -> tuple[Any, ...]:
        return ("divide",)

    def apply(self, x: Array) -> Array:
        x /= self.scale
        return x


@dataclass(frozen=True)
class MinMax:
    scale: Any
    offset: Any
    clip: tuple[float, float] | None

    def key(self) -> tuple[Any, ...]:
        return ("minmax", self.clip)

    def apply(self, x: Array) -> Array:
        x *= self.scale
        x += self.offset
        if self.clip is not None:
            np.clip(x, self.clip[0], self.clip[1], out=x)
        return x


def _stacked(steps: Sequence[NumericStep]) -> NumericStep:
    """One step holding the per-column parameters of the same step of several columns."""
    first = steps[0]
    if isinstance(first, Impute):
        return Impute(np.array([s.fill for s in steps if isinstance(s, Impute)]))
    if isinstance(first, Shift):
        return Shift(np.array([s.offset for s in steps if isinstance(s, Shift)]))
    if isinstance(first, Divide):
        return Divide(np.array([s.scale for s in steps if isinstance(s, Divide)]))
    minmax = [s for s in steps if isinstance(s, MinMax)]
    return MinMax(np.array([s.scale for s in minmax]), np.array([s.offset for s in minmax]), minmax[0].clip)


@dataclass
class NumericColumn:
    """A numeric feature: float values (nan = missing), imputed then scaled; one output column."""

    name: str
    steps: list[NumericStep]
    imputes: bool
    width: int = 1

    def key(self) -> tuple[Any, ...]:
        return (self.imputes, *(step.key() for step in self.steps))


@dataclass
class NumericGroup:
    """Numeric columns with the same kinds of steps, transformed together as one block.

    Elementwise IEEE arithmetic is exact whatever the array's shape, so a block gives each value
    the very operations scikit-learn applies to its column.
    """

    names: list[str]
    positions: Array
    steps: list[NumericStep]
    imputes: bool

    @classmethod
    def of(cls, columns: list[tuple[NumericColumn, int]]) -> NumericGroup:
        steps = [_stacked([c.steps[i] for c, _ in columns]) for i in range(len(columns[0][0].steps))]
        positions = np.array([where for _, where in columns], dtype=np.intp)
        return cls([c.name for c, _ in columns], positions, steps, columns[0][0].imputes)

    def fill(self, batch: Batch, out: Array) -> None:
        x = np.array([batch.columns[name] for name in self.names], dtype=np.float64).T
        if not self.imputes:
            self._refuse_missing(x)
        for step in self.steps:
            x = step.apply(x)
        out[:, self.positions] = x

    def _refuse_missing(self, x: Array) -> None:
        missing = np.isnan(x)
        if missing.any():
            row, col = (int(i) for i in np.argwhere(missing)[0])
            raise InputRejected("the model has no imputer for this field; send a value", field=self.names[col], row=row)


@dataclass
class TextColumn:
    """A categorical feature: strings (None = missing), imputed then one-hot or ordinal encoded."""

    name: str
    fill_value: str | None
    """Imputed for missing values; None when there is no imputer."""
    lookup: dict[str, int]
    width: int
    onehot: bool
    missing_index: int | None = None
    """The category a missing value is when training saw missing values (the encoder's nan category)."""
    ignore_unknown: bool = True
    """False: an unseen category is refused, as the encoder's handle_unknown="error" does."""
    unknown_value: float = math.nan
    """Ordinal code of unseen categories."""
    missing_value: float = math.nan
    """Ordinal code of missing values."""

    def fill(self, values: list[Any], out: Array) -> None:
        codes = self._codes(values)
        if self.onehot:
            out[:, :] = 0.0
            for row, code in enumerate(codes):
                if code >= 0:
                    out[row, code] = 1.0
        else:
            out[:, 0] = [self._ordinal(code) for code in codes]

    def _codes(self, values: list[Any]) -> list[int]:
        """Category index per row, -1 for an unseen category (or a missing value training never saw)."""
        codes = []
        lookup = self.lookup
        for row, value in enumerate(values):
            if value is None:
                value = self.fill_value
            code = self.missing_index if value is None else lookup.get(value)
            if code is None:
                if not self.ignore_unknown:
                    shown = "a missing value" if value is None else f"unknown category {value!r}"
                    raise InputRejected(f"{shown} is not accepted by this model", field=self.name, row=row)
                code = -1
            codes.append(code)
        return codes

    def _ordinal(self, code: int) -> float:
        if code < 0:
            return self.unknown_value
        if code == self.missing_index:
            return self.missing_value
        return float(code)


Column = NumericColumn | TextColumn


# ---------------------------------------------------------------------------------------------
# Estimator kernels: the final estimator's own arithmetic without input validation


class Kernel(Protocol):
    float32: bool
    """Whether the estimator reads float32 (trees), so values must fit in float32."""

    def run(self, x: Array) -> Prediction: ...


@dataclass
class LinearClassifier:
    coef_t: Array
    intercept: Array
    classes: Array
    float32: bool = False

    def run(self, x: Array) -> Prediction:
        from scipy.special import expit

        scores = x @ self.coef_t + self.intercept
        if scores.shape[1] == 1:
            decision = scores.reshape(-1)
            labels = self.classes.take((decision > 0).astype(np.intp), axis=0)
            positive = expit(decision)
            return Prediction(labels, np.vstack([1 - positive, positive]).T)
        from sklearn.utils.extmath import softmax

        labels = self.classes.take(np.argmax(scores, axis=1), axis=0)
        return Prediction(labels, softmax(scores.copy(), copy=False))


@dataclass
class LinearRegressor:
    coef_t: Array
    intercept: Any
    float32: bool = False

    def run(self, x: Array) -> Prediction:
        return Prediction(x @ self.coef_t + self.intercept)


@dataclass
class TreeEnsemble:
    """Decision trees and random/extra-trees forests with one output.

    scikit-learn adds the trees' predictions one after the other into zeros, then divides by their
    number; both ways below add in that order, so the sums are bit for bit the same.
    """

    trees: list[Any]
    tables: list[Array]
    """Per tree: the prediction of each node (class fractions, or the value for regression)."""
    classes: Array | None
    average: bool
    float32: bool = True
    stacked: Array = field(init=False)
    offsets: Array = field(init=False)

    SMALL_BATCH: ClassVar[int] = 256

    def __post_init__(self) -> None:
        self.stacked = np.concatenate(self.tables)
        self.offsets = np.cumsum([0, *(t.shape[0] for t in self.tables[:-1])]).astype(np.intp)[:, None]

    def run(self, x: Array) -> Prediction:
        total = self._sum_small(x) if x.shape[0] <= self.SMALL_BATCH else self._sum_large(x)
        if self.average:
            total /= len(self.trees)
        if self.classes is None:
            return Prediction(total[:, 0])
        return Prediction(self.classes.take(np.argmax(total, axis=1), axis=0), total)

    def _sum_small(self, x: Array) -> Array:
        """One gather of every tree's leaf values, then a running (sequential) sum over the trees."""
        leaves = np.empty((len(self.trees), x.shape[0]), dtype=np.intp)
        for i, tree in enumerate(self.trees):
            leaves[i] = tree.apply(x)
        leaves += self.offsets
        values = self.stacked.take(leaves, axis=0)
        total: Array = np.add.accumulate(values, axis=0)[-1]
        return total

    def _sum_large(self, x: Array) -> Array:
        total = np.zeros((x.shape[0], self.tables[0].shape[1]), dtype=np.float64)
        for tree, table in zip(self.trees, self.tables, strict=True):
            total += table.take(tree.apply(x), axis=0)
        return total


@dataclass
class EstimatorCall:
    """Any other estimator: its own predict/predict_proba on the transformed array (no DataFrame)."""

    estimator: Any
    float32: bool = False

    def run(self, x: Array) -> Prediction:
        try:  # as SklearnPredictor: the estimator's ValueError is input it refuses (422), not a failure (500)
            labels = np.asarray(self.estimator.predict(x))
            proba = self.estimator.predict_proba(x) if _has_proba(self.estimator) else None
        except ValueError as exc:
            raise InputRejected(f"the model rejected the input: {exc}") from exc
        return Prediction(labels, None if proba is None else np.asarray(proba, dtype=float))


# ---------------------------------------------------------------------------------------------
# The compiled pipeline


@dataclass
class FastPredictor:
    groups: list[NumericGroup]
    texts: list[tuple[TextColumn, slice]]
    width: int
    selected: Array | None
    kernel: Kernel
    description: str
    output_names: list[str] = field(default_factory=list)
    """Input field behind each column the estimator sees, to name a field in errors."""

    def predict(self, batch: Batch) -> Prediction:
        return self.kernel.run(self.transform(batch))

    def transform(self, batch: Batch) -> Array:
        x = np.empty((batch.rows, self.width), dtype=np.float64)
        for group in self.groups:
            group.fill(batch, x)
        for column, where in self.texts:
            column.fill(batch.columns[column.name], x[:, where])
        if self.selected is not None:
            x = x[:, self.selected]
        self._check_finite(x)
        if self.kernel.float32:
            with np.errstate(over="ignore"):
                x = np.ascontiguousarray(x, dtype=np.float32)
            self._check_finite(x)
        return x

    def _check_finite(self, x: Array) -> None:
        bad = ~np.isfinite(x)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            name = self.output_names[col] if col < len(self.output_names) else None
            raise InputRejected("value out of the model's numeric range after its transforms", field=name, row=row)


def compile_pipeline(pipeline: Any) -> FastPredictor:
    """The fast program of ``pipeline``; raises :class:`NotCompilable` for an unknown shape or step."""
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
        raise NotCompilable("not a Pipeline of features and a model")
    columns, width = _compile_features(pipeline.steps[0][1])
    names = [""] * width
    for column, where in columns:
        names[where] = [column.name] * column.width
    selected: Array | None = None
    for step_name, step in pipeline.steps[1:-1]:
        if selected is not None:
            raise NotCompilable(f"more than one step between features and model ('{step_name}')")
        selected = _selection(step_name, step)
    kernel, what = _kernel(pipeline.steps[-1][1])
    if selected is not None:
        names = [names[i] for i in selected]
    texts = [(c, where) for c, where in columns if isinstance(c, TextColumn)]
    groups = _groups([(c, where.start) for c, where in columns if isinstance(c, NumericColumn)])
    description = f"fast path: {len(columns)} features, {what}"
    return FastPredictor(groups, texts, width, selected, kernel, description, names)


def _groups(columns: list[tuple[NumericColumn, int]]) -> list[NumericGroup]:
    by_key: dict[tuple[Any, ...], list[tuple[NumericColumn, int]]] = {}
    for column, where in columns:
        by_key.setdefault(column.key(), []).append((column, where))
    return [NumericGroup.of(members) for members in by_key.values()]


def _compile_features(transformer: Any) -> tuple[list[tuple[Column, slice]], int]:
    from sklearn.compose import ColumnTransformer

    if not isinstance(transformer, ColumnTransformer):
        raise NotCompilable(f"first step is {type(transformer).__name__}, not a ColumnTransformer")
    if getattr(transformer, "sparse_output_", False):
        raise NotCompilable("the ColumnTransformer produces a sparse matrix")
    columns: list[tuple[Column, slice]] = []
    for name, step, selection in transformer.transformers_:
        if _is_drop(step, selection):
            continue
        where = transformer.output_indices_[name]
        column = _compile_column(_single_column(transformer, name, selection), step)
        if where.stop - where.start != column.width:
            raise NotCompilable(
                f"transformer '{name}' writes {where.stop - where.start} columns, expected {column.width}"
            )
        columns.append((column, where))
    return columns, max((where.stop for _, where in columns), default=0)


def _is_drop(step: Any, selection: Any) -> bool:
    empty = hasattr(selection, "__len__") and len(selection) == 0
    return (isinstance(step, str) and step == "drop") or empty


def _single_column(transformer: Any, name: str, selection: Any) -> str:
    chosen = list(selection) if isinstance(selection, list | tuple | np.ndarray) else [selection]
    if len(chosen) != 1:
        raise NotCompilable(f"transformer '{name}' reads {len(chosen)} columns")
    column = chosen[0]
    if isinstance(column, int | np.integer):
        column = transformer.feature_names_in_[int(column)]
    if not isinstance(column, str):
        raise NotCompilable(f"transformer '{name}' selects columns by {type(column).__name__}")
    return column


def _compile_column(column: str, step: Any) -> Column:
    steps = _flatten(step)
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    encoders = [i for i, s in enumerate(steps) if isinstance(s, OneHotEncoder | OrdinalEncoder)]
    if not encoders:
        return _numeric_column(column, steps)
    if encoders != [len(steps) - 1]:
        raise NotCompilable(f"column '{column}': steps after its encoder")
    return _text_column(column, steps[:-1], steps[-1])


def _flatten(step: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    if isinstance(step, str) and step == "passthrough":
        return []
    if isinstance(step, Pipeline):
        return [s for _n, s in step.steps if not (s is None or (isinstance(s, str) and s == "passthrough"))]
    return [step]


def _numeric_column(column: str, steps: list[Any]) -> NumericColumn:
    compiled: list[NumericStep] = []
    imputes = False
    for position, step in enumerate(steps):
        compiled.extend(_numeric_step(column, step, first=position == 0))
        imputes = imputes or _is_imputer(step)
    return NumericColumn(column, compiled, imputes)


def _is_imputer(step: Any) -> bool:
    from sklearn.impute import SimpleImputer

    return isinstance(step, SimpleImputer)


def _numeric_step(column: str, step: Any, *, first: bool) -> list[NumericStep]:
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    if _is_imputer(step):
        if not first:
            raise NotCompilable(f"column '{column}': imputer after another step")
        return [Impute(_numeric_fill(column, step))]
    if type(step) is StandardScaler:
        return _shift_divide(step.mean_ if step.with_mean else None, step.scale_ if step.with_std else None)
    if type(step) is RobustScaler:
        center = step.center_ if step.with_centering else None
        return _shift_divide(center, step.scale_ if step.with_scaling else None)
    if type(step) is MaxAbsScaler:
        return [Divide(_one(step.scale_))]
    if type(step) is MinMaxScaler:
        clip = (float(step.feature_range[0]), float(step.feature_range[1])) if step.clip else None
        return [MinMax(_one(step.scale_), _one(step.min_), clip)]
    raise NotCompilable(f"column '{column}': {type(step).__name__} is not supported by the fast path")


def _shift_divide(offset: Any, scale: Any) -> list[NumericStep]:
    steps: list[NumericStep] = []
    if offset is not None:
        steps.append(Shift(_one(offset)))
    if scale is not None:
        steps.append(Divide(_one(scale)))
    return steps


def _one(values: Any) -> float:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size != 1:
        raise NotCompilable(f"expected one fitted value per column, got {array.size}")
    return float(array[0])


def _numeric_fill(column: str, imputer: Any) -> float:
    _check_imputer(column, imputer)
    fill = _one(imputer.statistics_)
    if math.isnan(fill):
        raise NotCompilable(f"column '{column}': the imputer learned no value (all missing in training)")
    return fill


def _check_imputer(column: str, imputer: Any) -> None:
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)) and missing is not None:
        raise NotCompilable(f"column '{column}': imputer treats {missing!r} as missing")
    if imputer.add_indicator:
        raise NotCompilable(f"column '{column}': imputer adds an indicator column")


def _text_column(column: str, before: list[Any], encoder: Any) -> TextColumn:
    fill = None
    for step in before:
        if not _is_imputer(step) or fill is not None:
            raise NotCompilable(f"column '{column}': {type(step).__name__} before its encoder")
        _check_imputer(column, step)
        fill = step.statistics_[0]
        if not isinstance(fill, str):
            raise NotCompilable(f"column '{column}': imputer fills {fill!r}, not a string")
    categories = list(encoder.categories_[0]) if len(encoder.categories_) == 1 else None
    if categories is None:
        raise NotCompilable(f"column '{column}': the encoder saw several columns")
    missing_index = next((i for i, c in enumerate(categories) if _is_nan(c)), None)
    known = [c for c in categories if not _is_nan(c)]
    if not all(isinstance(c, str) for c in known):
        raise NotCompilable(f"column '{column}': categories are not strings")
    lookup = {c: i for i, c in enumerate(categories) if isinstance(c, str)}
    from sklearn.preprocessing import OneHotEncoder

    if isinstance(encoder, OneHotEncoder):
        return _onehot(column, fill, lookup, len(categories), missing_index, encoder)
    return _ordinal(column, fill, lookup, missing_index, encoder)


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _onehot(
    column: str, fill: str | None, lookup: dict[str, int], width: int, missing_index: int | None, encoder: Any
) -> TextColumn:
    if encoder.drop_idx_ is not None:
        raise NotCompilable(f"column '{column}': one-hot encoder drops a category")
    if getattr(encoder, "_infrequent_enabled", False):
        raise NotCompilable(f"column '{column}': one-hot encoder groups infrequent categories")
    if getattr(encoder, "sparse_output", False):
        raise NotCompilable(f"column '{column}': one-hot encoder writes a sparse matrix")
    if encoder.handle_unknown not in ("ignore", "infrequent_if_exist", "error"):
        raise NotCompilable(f"column '{column}': handle_unknown={encoder.handle_unknown!r}")
    return TextColumn(column, fill, lookup, width, True, missing_index, encoder.handle_unknown != "error")


def _ordinal(
    column: str, fill: str | None, lookup: dict[str, int], missing_index: int | None, encoder: Any
) -> TextColumn:
    if getattr(encoder, "_infrequent_enabled", False):
        raise NotCompilable(f"column '{column}': ordinal encoder groups infrequent categories")
    if encoder.handle_unknown not in ("use_encoded_value", "error"):
        raise NotCompilable(f"column '{column}': handle_unknown={encoder.handle_unknown!r}")
    ignore = encoder.handle_unknown == "use_encoded_value"
    unknown = float(encoder.unknown_value) if ignore else math.nan
    missing = float(encoder.encoded_missing_value)
    return TextColumn(column, fill, lookup, 1, False, missing_index, ignore, unknown, missing)


def _selection(name: str, step: Any) -> Array:
    from sklearn.feature_selection import SelectorMixin

    if not isinstance(step, SelectorMixin):
        raise NotCompilable(f"step '{name}' ({type(step).__name__}) is not a feature selector")
    return np.asarray(step.get_support(indices=True), dtype=np.intp)


def _kernel(estimator: Any) -> tuple[Kernel, str]:
    for build in KERNEL_BUILDERS:
        found = build(estimator)
        if found is not None:
            return found
    return EstimatorCall(estimator), type(estimator).__name__


def _linear_classifier(estimator: Any) -> tuple[Kernel, str] | None:
    from sklearn.linear_model import LogisticRegression

    if type(estimator) is not LogisticRegression or estimator.coef_.ndim != 2:
        return None
    kernel = LinearClassifier(estimator.coef_.T, estimator.intercept_, estimator.classes_)
    return kernel, f"LogisticRegression ({len(estimator.classes_)} classes)"


def _linear_regressor(estimator: Any) -> tuple[Kernel, str] | None:
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge

    if type(estimator) not in (LinearRegression, Ridge, Lasso, ElasticNet) or estimator.coef_.ndim != 1:
        return None
    return LinearRegressor(estimator.coef_.T, estimator.intercept_), type(estimator).__name__


def _trees(estimator: Any) -> tuple[Kernel, str] | None:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    forests = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
    single = (DecisionTreeClassifier, DecisionTreeRegressor)
    if type(estimator) not in (*forests, *single) or estimator.n_outputs_ != 1:
        return None
    trees = list(estimator.estimators_) if type(estimator) in forests else [estimator]
    classifier = hasattr(estimator, "classes_")
    width = len(estimator.classes_) if classifier else 1
    tables = [np.ascontiguousarray(t.tree_.value.reshape(t.tree_.node_count, -1)[:, :width]) for t in trees]
    kernel = TreeEnsemble(
        [t.tree_ for t in trees], tables, estimator.classes_ if classifier else None, type(estimator) in forests
    )
    return kernel, f"{type(estimator).__name__} ({len(trees)} trees)"


KERNEL_BUILDERS: tuple[Callable[[Any], tuple[Kernel, str] | None], ...] = (
    _linear_classifier,
    _linear_regressor,
    _trees,
)


# ---------------------------------------------------------------------------------------------
# Choosing, with a check that the fast path answers exactly as the pipeline does


class ModelUnusable(Exception):
    """The pipeline cannot predict rows its own signature describes."""


def build_predictor(pipeline: Any, signature: Signature, reference: Reference | None = None) -> Predictor:
    """The fast path when it compiles and agrees with the pipeline on probe rows, else the pipeline."""
    fallback = SklearnPredictor(pipeline, signature)
    probe = probe_batch(signature, reference)
    expected = _probe_prediction(fallback, probe, signature)
    try:
        fast = compile_pipeline(pipeline)
    except NotCompilable as exc:
        return SklearnPredictor(pipeline, signature, f"no fast path: {exc}")
    problem = _disagreement(fast, expected, probe)
    if problem:
        return SklearnPredictor(pipeline, signature, f"fast path disagreed on probe rows: {problem}")
    return fast


def _probe_prediction(fallback: SklearnPredictor, probe: Batch, signature: Signature) -> Prediction:
    try:
        return fallback.predict(probe)
    except InputRejected:
        pass
    except Exception as exc:
        raise ModelUnusable(
            f"the pipeline cannot predict its own signature's inputs: {type(exc).__name__}: {exc}"
        ) from exc
    safe = probe_batch(signature, None, plain=True)
    try:
        return fallback.predict(safe)
    except Exception as exc:
        raise ModelUnusable(f"the pipeline cannot predict its own signature's inputs: {exc}") from exc


def _disagreement(fast: FastPredictor, expected: Prediction, probe: Batch) -> str | None:
    if len(expected.labels) != probe.rows:
        expected_rows = len(expected.labels)
        return f"probe sizes differ ({expected_rows} vs {probe.rows})"
    try:
        got = fast.predict(probe)
    except InputRejected as exc:
        return f"rejected a probe row: {exc.message}"
    if got.labels.shape != expected.labels.shape or not np.array_equal(got.labels, expected.labels):
        return "labels differ"
    if (got.probabilities is None) != (expected.probabilities is None):
        return "probabilities differ"
    if got.probabilities is not None and expected.probabilities is not None:
        if got.probabilities.shape != expected.probabilities.shape:
            return "probability shapes differ"
        if not np.allclose(got.probabilities, expected.probabilities, rtol=1e-9, atol=1e-12):
            return "probabilities differ"
    return None


PROBE_ROWS = 48
DEFAULT_NUMBERS = (-3.5, -1.0, 0.0, 0.25, 1.0, 2.0, 7.5, 40.0, 1000.0)


def probe_batch(signature: Signature, reference: Reference | None, *, plain: bool = False) -> Batch:
    """Rows that exercise every bin and category, missing values and unseen categories (unless plain)."""
    rng = random.Random(20240611)
    columns: dict[str, list[Any]] = {}
    for column in signature.inputs:
        binned = reference.features.get(column.name) if reference is not None else None
        pool = _probe_pool(column.type, column.categories, binned, missing=column.nullable and not plain, plain=plain)
        columns[column.name] = [pool[rng.randrange(len(pool))] for _ in range(PROBE_ROWS)]
    return Batch(PROBE_ROWS, columns)


def _probe_pool(
    declared: str, categories: Sequence[str] | None, binned: Any, *, missing: bool, plain: bool
) -> list[Any]:
    if is_numeric_type(declared):
        pool: list[Any] = _numeric_pool(declared, binned)
        return [*pool, math.nan] if missing else pool
    known = list(categories or (binned.categories if binned is not None else []))
    pool = [*known] if known else ["a", "b"]
    if not plain:
        pool.append("never-seen-in-training")
    return [*pool, None] if missing else pool


def _numeric_pool(declared: str, binned: Any) -> list[float]:
    edges = list(binned.edges) if binned is not None and binned.edges else list(DEFAULT_NUMBERS)
    values = [*edges, edges[0] - 1.0, edges[-1] + 1.0]
    values += [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    if declared == "boolean":
        return [0.0, 1.0]
    if declared == "integer":
        return sorted({float(round(v)) for v in values})
    return values
