"""Declared column types: conversion of what a file holds, and the values that do not fit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlopsctl.data.types import coerce


def test_integer_from_text_with_gaps_and_bad_values() -> None:
    raw = pd.Series(["1", "2.0", None, "forty", "3.5"], dtype=object)
    result = coerce(raw, "integer")
    assert result.bad is not None
    assert result.bad.tolist() == [False, False, False, True, True]
    assert result.bad_count == 2
    assert result.first_bad(raw) == (4, "forty")
    assert result.values.tolist()[:2] == [1.0, 2.0]
    assert result.values.iloc[3:].isna().all()


def test_integer_that_fits_becomes_int64_or_float64_with_gaps() -> None:
    assert coerce(pd.Series(["1", "2"], dtype=object), "integer").values.dtype == np.dtype("int64")
    assert coerce(pd.Series([1, 2], dtype="int32"), "integer").values.dtype == np.dtype("int64")
    gaps = pd.Series([1.0, np.nan])
    result = coerce(gaps, "integer")
    assert result.bad is None
    assert result.values is gaps


def test_a_column_already_of_its_type_is_returned_as_is() -> None:
    for declared, series in [
        ("integer", pd.Series([1, 2])),
        ("float", pd.Series([1.5])),
        ("string", pd.Series(["a"])),
        ("datetime", pd.Series(pd.to_datetime(["2024-01-01"])).astype("datetime64[ns]")),
        ("boolean", pd.Series([True, False])),
    ]:
        result = coerce(series, declared)  # type: ignore[arg-type]
        assert result.values is series, declared
        assert result.bad is None


def test_float_from_text() -> None:
    result = coerce(pd.Series(["1.5", "1e3", "", "x"], dtype=object), "float")
    assert result.values.tolist()[:2] == [1.5, 1000.0]
    assert result.bad is not None
    assert result.bad.tolist() == [False, False, True, True]  # "" is text here; the loader reads it as missing


def test_datetimes_with_offsets_become_naive_utc_nanoseconds() -> None:
    result = coerce(pd.Series(["2024-01-01", "2024-01-02T10:00:00+02:00", None], dtype=object), "datetime")
    assert result.bad is None
    assert result.values.dtype == np.dtype("datetime64[ns]")
    assert result.values.tolist()[:2] == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02 08:00:00")]


def test_datetimes_in_a_consistent_non_iso_format() -> None:
    result = coerce(pd.Series(["05/31/2024", "06/01/2024"], dtype=object), "datetime")
    assert result.bad is None
    assert result.values.tolist() == [pd.Timestamp("2024-05-31"), pd.Timestamp("2024-06-01")]


def test_timezone_aware_datetimes_convert_to_utc() -> None:
    aware = pd.Series(pd.to_datetime(["2024-01-01 02:00"]).tz_localize("Europe/Paris"))
    assert coerce(aware, "datetime").values.tolist() == [pd.Timestamp("2024-01-01 01:00")]


def test_numbers_are_not_datetimes() -> None:
    result = coerce(pd.Series([1.0, np.nan]), "datetime")
    assert result.bad is not None
    assert result.bad.tolist() == [True, False]


def test_booleans_from_words_numbers_and_mixed_objects() -> None:
    words = coerce(pd.Series(["true", "No", " yes ", "F", "maybe"], dtype="str"), "boolean")
    assert words.bad is not None
    assert words.bad.tolist() == [False, False, False, False, True]
    assert coerce(pd.Series([1, 0]), "boolean").values.tolist() == [True, False]
    mixed = coerce(pd.Series([True, None, "false"], dtype=object), "boolean")
    assert mixed.bad is None
    assert str(mixed.values.dtype) == "boolean"
    assert mixed.values.tolist() == [True, pd.NA, False]


def test_nullable_boolean_without_gaps_becomes_bool() -> None:
    result = coerce(pd.Series([True, False], dtype="boolean"), "boolean")
    assert result.values.dtype == np.dtype(bool)


def test_categories_stored_as_numbers_become_text() -> None:
    result = coerce(pd.Series([1, 2, None], dtype="Int64"), "category")
    assert result.values.tolist()[:2] == ["1", "2"]
    assert result.values.isna().tolist() == [False, False, True]


def test_parquet_dictionaries_become_text_with_gaps_kept() -> None:
    series = pd.Series(pd.Categorical([1, None, 2, 1]))
    result = coerce(series, "category")
    assert result.values.tolist()[:1] + result.values.tolist()[2:] == ["1", "2", "1"]
    assert result.values.isna().tolist() == [False, True, False, False]
