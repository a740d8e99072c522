"""Declared column types: what a value of each spec type looks like in pandas, and how to get there.

``coerce`` turns a column as read (typed by the parser, or raw text when the parser refused it)
into its declared type and says which values did not fit. Columns that already have the right
dtype cost nothing, so the loader and the consistency checks can both call it on every column.

===========  =========================================================
declared     pandas dtype
===========  =========================================================
integer      int64 (float64 when values are missing)
float        float64
category     str (text; encoding is the feature pipeline's job)
string       str
datetime     datetime64[ns], tz-naive UTC
boolean      bool (the nullable ``boolean`` when values are missing)
===========  =========================================================
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlopsctl.spec.models import ColumnType

TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
_BOOL_WORDS = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}


@dataclass(frozen=True)
class Coerced:
    """A column in its declared type, and the values that did not fit it."""

    values: pd.Series
    """The column converted; values that did not fit are missing."""
    bad: np.ndarray | None
    """Boolean mask of present values that do not fit the type; None when every value fits."""

    @property
    def bad_count(self) -> int:
        return 0 if self.bad is None else int(self.bad.sum())

    def first_bad(self, raw: pd.Series) -> tuple[int, object] | None:
        """(row number from 1, raw value) of the first value that does not fit, if any."""
        if self.bad is None or not self.bad.any():
            return None
        position = int(np.argmax(self.bad))
        return position + 1, raw.iloc[position]


def coerce(series: pd.Series, declared: ColumnType) -> Coerced:
    """``series`` as the ``declared`` type; the same object, at no cost, when its dtype already is."""
    if has_declared_dtype(series, declared):
        return Coerced(series, None)
    if declared == "integer":
        return _integer(series)
    if declared == "float":
        return _float(series)
    if declared == "datetime":
        return _datetime(series)
    if declared == "boolean":
        return _boolean(series)
    return Coerced(as_text(series), None)


def has_declared_dtype(series: pd.Series, declared: ColumnType) -> bool:
    """Whether the dtype is exactly what the loader gives a clean column of the declared type."""
    dtype = series.dtype
    if declared == "integer":
        return dtype == np.dtype("int64")
    if declared == "float":
        return dtype == np.dtype("float64")
    if declared == "datetime":
        return dtype == np.dtype("datetime64[ns]")
    if declared == "boolean":
        return dtype == np.dtype(bool) or (isinstance(dtype, pd.BooleanDtype) and bool(series.isna().any()))
    return is_text(series)


def is_text(series: pd.Series) -> bool:
    dtype = series.dtype
    return isinstance(dtype, pd.StringDtype) or dtype == np.dtype(object)


def as_text(series: pd.Series) -> pd.Series:
    """Text values, missing values kept missing (parquet may store a category as numbers or a dictionary)."""
    if is_text(series):
        return series
    if isinstance(series.dtype, pd.CategoricalDtype):  # Parquet dictionaries: convert the categories, not the rows
        labels = np.array([*(str(label) for label in series.cat.categories), np.nan], dtype=object)
        return pd.Series(labels[series.cat.codes.to_numpy()], index=series.index, name=series.name)  # -1: nan
    return series.astype(object).map(str, na_action="ignore").astype(object)


def _numbers(series: pd.Series) -> tuple[pd.Series, np.ndarray | None]:
    if ptypes.is_numeric_dtype(series.dtype):
        return series.astype("float64"), None
    numbers = pd.to_numeric(as_text(series), errors="coerce").astype("float64")
    bad = series.notna().to_numpy() & numbers.isna().to_numpy()
    return numbers, bad if bad.any() else None


def _integer(series: pd.Series) -> Coerced:
    is_integer = ptypes.is_integer_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype)
    if is_integer and not series.isna().any():  # another width, or pandas' nullable Int64 without gaps
        return Coerced(series.astype("int64"), None)
    numbers, bad = _numbers(series)
    values = numbers.to_numpy()
    with np.errstate(invalid="ignore"):
        fraction = ~np.isnan(values) & (np.mod(values, 1.0) != 0.0)
    if fraction.any():
        bad = fraction if bad is None else bad | fraction
        numbers = numbers.mask(fraction)
    if bad is not None:
        return Coerced(numbers, bad)
    if numbers.isna().any():  # missing values: float64 holds them, as pandas does
        return Coerced(series if series.dtype == np.dtype("float64") else numbers, None)
    return Coerced(numbers.astype("int64"), None)


def _float(series: pd.Series) -> Coerced:
    numbers, bad = _numbers(series)
    return Coerced(numbers, bad)


def _datetime(series: pd.Series) -> Coerced:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return Coerced(series.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]"), None)
    if ptypes.is_datetime64_dtype(dtype):
        return Coerced(series.astype("datetime64[ns]"), None)
    if not is_text(series) and not isinstance(dtype, pd.CategoricalDtype):
        present = series.notna().to_numpy()
        return Coerced(
            pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]"), present if present.any() else None
        )
    return _parse_datetimes(as_text(series))


def _parse_datetimes(text: pd.Series) -> Coerced:
    """ISO 8601 first (fast, any offset); otherwise the format pandas infers from the first value."""
    present = text.notna().to_numpy()
    best: pd.Series | None = None
    best_bad: np.ndarray | None = None
    for fmt in ("ISO8601", None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(text, errors="coerce", utc=True, format=fmt)
        bad = present & parsed.isna().to_numpy()
        if best_bad is None or bad.sum() < best_bad.sum():
            best, best_bad = parsed, bad
        if not bad.any():
            break
    assert best is not None and best_bad is not None
    values = best.dt.tz_localize(None).astype("datetime64[ns]")
    return Coerced(values, best_bad if best_bad.any() else None)


def _boolean(series: pd.Series) -> Coerced:
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):  # the nullable boolean without missing values
        return Coerced(series.astype(bool), None)
    if ptypes.is_numeric_dtype(dtype):
        words = series.map({1: "true", 0: "false"}, na_action="ignore")
    elif isinstance(dtype, pd.StringDtype):
        words = series.str.strip().str.lower()
    else:  # object: parsed booleans mixed with missing values, or text from a Parquet file
        words = series.map(_bool_word, na_action="ignore")
    mapped = words.map(_BOOL_WORDS)
    bad = series.notna().to_numpy() & mapped.isna().to_numpy()
    values = mapped.astype("boolean")
    if not values.isna().any():
        values = values.astype(bool)
    return Coerced(values, bad if bad.any() else None)


def _bool_word(value: object) -> object:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value).strip().lower()
