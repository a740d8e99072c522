"""Each quality check on its own, passing and failing, with the exact words a user reads."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from mlopsctl.data import check_or_raise, target_summary
from mlopsctl.data.quality import CheckResult, QualityReport, run_quality_checks
from mlopsctl.errors import CheckFailed
from mlopsctl.spec.models import ModelSpec
from tests.support.data_specs import check, find, make_spec, texts

# --------------------------------------------------------------------------- accuracy


def ages(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"age": list(values), "y": [i % 2 for i in range(len(values))]})


def test_range_passes_and_shows_the_observed_span() -> None:
    spec = make_spec(
        {"age": "float", "y": "integer"}, target="y", quality={"accuracy": {"ranges": {"age": {"min": 18, "max": 110}}}}
    )
    assert texts(find(check(spec, ages(18, 40.5, 110)), "range", "age")) == (
        True,
        "min 18, max 110",
        "18 <= age <= 110",
        0,
    )


def test_range_counts_rows_below_and_above_with_the_extremes() -> None:
    spec = make_spec(
        {"age": "float", "y": "integer"}, target="y", quality={"accuracy": {"ranges": {"age": {"min": 18, "max": 110}}}}
    )
    result = find(check(spec, ages(4, 10, 17, 30, 250)), "range", "age")
    assert texts(result) == (False, "3 rows below 18 (min 4); 1 row above 110 (max 250)", "18 <= age <= 110", 4)
    assert result.status == "FAIL"


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [({"min": 0}, "age >= 0"), ({"max": 1.5}, "age <= 1.5")],
)
def test_range_with_one_bound(bounds: dict[str, float], expected: str) -> None:
    spec = make_spec({"age": "float", "y": "integer"}, target="y", quality={"accuracy": {"ranges": {"age": bounds}}})
    result = find(check(spec, ages(0.5, 1)), "range", "age")
    assert (result.passed, result.expected) == (True, expected)


def test_range_ignores_missing_values_and_says_when_there_are_none() -> None:
    spec = make_spec(
        {"age": "float", "y": "integer"}, target="y", quality={"accuracy": {"ranges": {"age": {"min": 18}}}}
    )
    assert find(check(spec, ages(20, np.nan)), "range", "age").observed == "min 20, max 20"
    assert texts(find(check(spec, ages(np.nan, np.nan)), "range", "age")) == (True, "no values", "age >= 18", 0)


def test_allowed_values_pass_and_fail_with_an_example_row() -> None:
    spec = make_spec(
        {"plan": "category", "y": "integer"}, target="y", quality={"accuracy": {"allowed": {"plan": ["basic", "pro"]}}}
    )
    good = pd.DataFrame({"plan": ["basic", "pro", None], "y": [0, 1, 0]})
    bad = pd.DataFrame({"plan": ["basic", "pro", "gold", "gold"], "y": [0, 1, 0, 1]})
    assert texts(find(check(spec, good), "allowed", "plan")) == (True, "all allowed", "one of basic, pro", 0)
    result = find(check(spec, bad), "allowed", "plan")
    assert texts(result) == (False, "2 rows not allowed, e.g. 'gold' at row 3", "one of basic, pro", 2)


def test_allowed_numbers_match_across_int_and_float() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y", quality={"accuracy": {"allowed": {"y": [0, 1]}}})
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 1, 2]})
    assert texts(find(check(spec, frame), "allowed", "y")) == (
        False,
        "1 row not allowed, e.g. 2 at row 4",
        "one of 0, 1",
        1,
    )
    floats = make_spec({"x": "float", "y": "integer"}, target="y", quality={"accuracy": {"allowed": {"x": [1, 2.5]}}})
    assert find(check(floats, pd.DataFrame({"x": [1.0, 2.5], "y": [0, 1]})), "allowed", "x").passed


def test_allowed_booleans_and_long_lists() -> None:
    spec = make_spec(
        {"flag": "boolean", "code": "string", "y": "integer"},
        target="y",
        quality={"accuracy": {"allowed": {"flag": [True], "code": [f"c{i}" for i in range(12)]}}},
    )
    frame = pd.DataFrame({"flag": [True, False], "code": ["c1", "c2"], "y": [0, 1]})
    report = check(spec, frame)
    assert texts(find(report, "allowed", "flag")) == (False, "1 row not allowed, e.g. false at row 2", "one of true", 1)
    assert find(report, "allowed", "code").expected == "one of c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, ... (12 values)"


def test_pattern_matches_whole_values() -> None:
    spec = make_spec(
        {"id": "string", "y": "integer"}, target="y", quality={"accuracy": {"patterns": {"id": "C[0-9]{3}"}}}
    )
    good = pd.DataFrame({"id": ["C001", "C002", None], "y": [0, 1, 0]})
    bad = pd.DataFrame({"id": ["C001", "C0021", "X003"], "y": [0, 1, 0]})
    assert texts(find(check(spec, good), "pattern", "id")) == (True, "all match", "matches C[0-9]{3}", 0)
    result = find(check(spec, bad), "pattern", "id")
    assert texts(result) == (False, "2 rows do not match, e.g. 'C0021' at row 2", "matches C[0-9]{3}", 2)


def test_pattern_with_python_only_syntax_falls_back_to_re() -> None:
    spec = make_spec(
        {"id": "string", "y": "integer"}, target="y", quality={"accuracy": {"patterns": {"id": r"(?!X)\w+"}}}
    )
    result = find(check(spec, pd.DataFrame({"id": ["a1", "X1"], "y": [0, 1]})), "pattern", "id")
    assert texts(result) == (False, "1 row does not match, e.g. 'X1' at row 2", r"matches (?!X)\w+", 1)


# --------------------------------------------------------------------------- completeness


def test_min_rows() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y", quality={"min_rows": 5})
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    assert texts(find(check(spec, frame), "min_rows")) == (False, "3 rows", ">= 5 rows", 0)
    assert find(check(spec, pd.concat([frame, frame])), "min_rows").passed


def test_required_columns_name_the_missing_target() -> None:
    spec = make_spec({"x": "float", "z": "float", "y": "integer"}, target="y")
    report = check(spec, pd.DataFrame({"x": [1.0, 2.0]}))
    assert texts(find(report, "required", "z")) == (False, "column missing from the file", "column present", 2)
    assert texts(find(report, "required", "y")) == (
        False,
        "column missing from the file",
        "column present (the target)",
        2,
    )
    ok = check(spec, pd.DataFrame({"x": [1.0], "z": [2.0], "y": [1]}))
    assert texts(find(ok, "required")) == (True, "all 3 present", "3 required columns", 0)


def test_required_list_from_the_spec_always_includes_the_target() -> None:
    spec = make_spec(
        {"x": "float", "z": "float", "y": "integer"}, target="y", quality={"completeness": {"required": ["x"]}}
    )
    assert texts(find(check(spec, pd.DataFrame({"x": [1.0], "y": [0]})), "required")) == (
        True,
        "all 2 present",
        "2 required columns",
        0,
    )


def test_missing_share_per_column_and_default() -> None:
    spec = make_spec(
        {"x": "float", "z": "float", "y": "integer"},
        target="y",
        quality={"completeness": {"max_missing": {"x": 0.3}, "default_max_missing": 0.1}},
    )
    frame = pd.DataFrame({"x": [np.nan, 1, 2, 3], "z": [np.nan, 1, 2, 3], "y": [0, 1, 0, 1]})
    report = check(spec, frame)
    assert texts(find(report, "missing", "x")) == (True, "missing 25%", "missing <= 30%", 1)
    assert texts(find(report, "missing", "z")) == (False, "missing 25%", "missing <= 10%", 1)
    assert texts(find(report, "missing", "y")) == (True, "missing 0%", "missing <= 10%", 0)


def test_missing_share_rounding_never_hides_a_failure() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y", quality={"completeness": {"max_missing": {"x": 0.05}}})
    x = np.arange(10_000, dtype=float)
    x[:504] = np.nan
    report = check(spec, pd.DataFrame({"x": x, "y": np.arange(10_000) % 2}))
    assert texts(find(report, "missing", "x")) == (False, "missing 5.04%", "missing <= 5%", 504)


def test_missing_small_shares_keep_two_significant_digits() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y", quality={"completeness": {"max_missing": {"x": 0.01}}})
    x = np.arange(10_000, dtype=float)
    x[:4] = np.nan
    assert (
        find(check(spec, pd.DataFrame({"x": x, "y": np.arange(10_000) % 2})), "missing", "x").observed
        == "missing 0.04%"
    )


# --------------------------------------------------------------------------- consistency


def test_undeclared_columns_pass_as_info() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y")
    result = find(check(spec, pd.DataFrame({"x": [1.0], "y": [0], "note": ["hi"], "extra": [1]})), "schema")
    assert texts(result) == (
        True,
        "2 undeclared columns kept, not checked: note, extra",
        "the columns in data.columns",
        0,
    )
    assert (result.severity, result.status) == ("info", "PASS")
    clean = find(check(spec, pd.DataFrame({"x": [1.0], "y": [0]})), "schema")
    assert (clean.observed, clean.severity) == ("no undeclared columns", "error")


@pytest.mark.parametrize(
    ("declared", "values", "observed"),
    [
        ("integer", ["1", "forty", "3.5", None], "2 values not integer, e.g. 'forty' at row 2"),
        ("float", ["1.5", "2", "n/a?"], "1 value not float, e.g. 'n/a?' at row 3"),
        ("datetime", ["2024-01-01", "yesterday", None], "1 value not datetime, e.g. 'yesterday' at row 2"),
        ("boolean", ["true", "no", "maybe"], "1 value not boolean, e.g. 'maybe' at row 3"),
    ],
)
def test_type_check_counts_values_that_do_not_parse(declared: str, values: list[str | None], observed: str) -> None:
    spec = make_spec({"v": declared, "y": "integer"}, target="y")
    frame = pd.DataFrame({"v": pd.Series(values, dtype=object), "y": [i % 2 for i in range(len(values))]})
    result = find(check(spec, frame), "type", "v")
    assert (result.passed, result.observed, result.expected) == (False, observed, declared)
    assert result.failing_rows == int(observed.split()[0])


def test_type_check_passes_on_typed_and_parseable_columns() -> None:
    spec = make_spec({"a": "integer", "b": "float", "c": "category", "d": "datetime", "y": "integer"}, target="y")
    frame = pd.DataFrame(
        {"a": ["1", "2.0"], "b": [1, 2], "c": [1, 2], "d": ["2024-01-01", "2024-01-02T10:00:00+02:00"], "y": [0, 1]}
    )
    report = check(spec, frame)
    assert [find(report, "type", c).observed for c in "abcd"] == [
        "all integer",
        "all float",
        "all category",
        "all datetime",
    ]


def test_type_check_can_be_turned_off() -> None:
    spec = make_spec({"v": "integer", "y": "integer"}, target="y", quality={"consistency": {"check_types": False}})
    report = check(spec, pd.DataFrame({"v": ["x", "1"], "y": [0, 1]}))
    assert [r for r in report.results if r.check == "type"] == []


def test_unique_keys() -> None:
    spec = make_spec({"id": "string", "y": "integer"}, target="y", quality={"consistency": {"unique": ["id"]}})
    good = pd.DataFrame({"id": ["C1", "C2", None, None], "y": [0, 1, 0, 1]})
    bad = pd.DataFrame({"id": ["C1", "C2", "C3", "C2", "C2"], "y": [0, 1, 0, 1, 0]})
    assert texts(find(check(spec, good), "unique", "id")) == (True, "all 2 distinct", "unique values", 0)
    result = find(check(spec, bad), "unique", "id")
    assert texts(result) == (False, "2 duplicate values, e.g. 'C2' at rows 2 and 4", "unique values", 2)


def test_duplicate_rows() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y", quality={"consistency": {"no_duplicate_rows": True}})
    frame = pd.DataFrame({"x": [1.0, 2.0, 1.0, 2.0, 2.0, np.nan, np.nan], "y": [0, 1, 1, 1, 1, 0, 0]})
    result = find(check(spec, frame), "duplicate_rows")
    assert texts(result) == (False, "3 duplicate rows, e.g. row 4 repeats row 2", "no duplicate rows", 3)
    unique = frame.drop_duplicates()
    assert texts(find(check(spec, unique), "duplicate_rows")) == (True, "none", "no duplicate rows", 0)


def test_duplicate_rows_only_when_declared() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y")
    report = check(spec, pd.DataFrame({"x": [1.0, 1.0], "y": [0, 0]}))
    assert [r for r in report.results if r.check == "duplicate_rows"] == []


def test_a_constant_column_is_a_warning_that_passes() -> None:
    spec = make_spec(
        {"x": "float", "region": "category", "y": "integer"},
        target="y",
        quality={"completeness": {"max_missing": {"x": 0.5}}},
    )
    frame = pd.DataFrame({"x": [1.0, 1.0, np.nan], "region": ["north", "south", "north"], "y": [0, 1, 1]})
    report = check(spec, frame)
    result = find(report, "constant", "x")
    assert texts(result) == (True, "only one value: 1", "more than one value", 0)
    assert (result.severity, result.status) == ("warning", "WARN")
    assert [r.column for r in report.results if r.check == "constant"] == ["x"]
    assert report.passed
    assert report.warnings() == [result]


def test_a_label_with_one_class_fails() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y")
    one = find(check(spec, pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 0, 0]})), "target", "y")
    assert texts(one) == (False, "one class: 0 (3 rows)", "at least 2 classes", 3)
    two = find(check(spec, pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})), "target", "y")
    assert texts(two) == (True, "2 classes: 0 (2), 1 (1)", "at least 2 classes", 0)


def test_a_regression_target_with_one_value_fails() -> None:
    spec = make_spec({"x": "float", "y": "float"}, target="y", task="regression")
    one = find(check(spec, pd.DataFrame({"x": [1.0, 2.0], "y": [5.0, 5.0]})), "target", "y")
    assert texts(one) == (False, "one value: 5 (2 rows)", "more than one value", 2)
    ok = find(check(spec, pd.DataFrame({"x": [1.0, 2.0], "y": [5.0, 7.25]})), "target", "y")
    assert texts(ok) == (True, "min 5, max 7.25", "more than one value", 0)


def test_target_summary_for_training() -> None:
    spec = make_spec({"x": "float", "y": "category"}, target="y")
    frame = pd.DataFrame({"x": range(8), "y": ["a", "b", "c", "d", "e", "f", "a", None]})
    summary = target_summary(frame, spec)
    assert (summary.present, summary.labelled, summary.missing, summary.learnable) == (True, 7, 1, True)
    assert summary.classes == {"a": 2, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}
    assert summary.describe() == "6 classes: a (2), b (1), c (1), d (1), e (1), ..."
    absent = target_summary(pd.DataFrame({"x": [1]}), spec)
    assert (absent.present, absent.learnable, absent.describe()) == (False, False, "column missing")


# --------------------------------------------------------------------------- timeliness


def stamps(*values: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"at": pd.to_datetime(list(values), format="ISO8601"), "y": [i % 2 for i in range(len(values))]}
    )


def fresh_spec(max_age: str = "2d", **extra: str) -> ModelSpec:
    return make_spec(
        {"at": "datetime", "y": "integer"},
        target="y",
        time_column="at",
        quality={"timeliness": {"max_age": max_age, **extra}},
    )


def test_freshness_passes_within_the_age() -> None:
    report = check(fresh_spec(), stamps("2024-04-01", "2024-05-31 12:00:00"))
    result = find(report, "freshness", "at")
    assert texts(result) == (True, "newest 2024-05-31 12:00:00, 1 day old", "newest not older than 2d", 0)


def test_freshness_fails_when_stale() -> None:
    report = check(fresh_spec("30d"), stamps("2024-04-01", "2024-04-22"))
    assert texts(find(report, "freshness", "at")) == (
        False,
        "newest 2024-04-22, 40.5 days old",
        "newest not older than 30d",
        0,
    )


def test_freshness_with_a_timezone_aware_now_and_future_values() -> None:
    now = datetime(2024, 6, 1, 14, 0, tzinfo=UTC)
    report = check(fresh_spec("1h"), stamps("2024-06-01 16:00:00"), now=now)
    assert find(report, "freshness", "at").observed == "newest 2024-06-01 16:00:00, 2 hours in the future"
    report = check(fresh_spec("1h"), stamps("2024-06-01 13:30:00"), now=now)
    assert texts(find(report, "freshness", "at")) == (
        True,
        "newest 2024-06-01 13:30:00, 30 minutes old",
        "newest not older than 1h",
        0,
    )


def test_freshness_without_timestamps_fails() -> None:
    frame = pd.DataFrame({"at": pd.Series([pd.NaT, pd.NaT]), "y": [0, 1]})
    assert texts(find(check(fresh_spec(), frame), "freshness", "at")) == (
        False,
        "no timestamps",
        "newest not older than 2d",
        0,
    )


def test_timeliness_column_overrides_the_time_column() -> None:
    spec = make_spec(
        {"at": "datetime", "seen": "datetime", "y": "integer"},
        target="y",
        time_column="at",
        quality={"timeliness": {"max_age": "1d", "column": "seen"}},
    )
    frame = pd.DataFrame(
        {"at": pd.to_datetime(["2020-01-01"] * 2), "seen": pd.to_datetime(["2024-06-01"] * 2), "y": [0, 1]}
    )
    assert find(check(spec, frame), "freshness", "seen").passed


def test_freshness_default_now_is_the_current_time() -> None:
    frame = pd.DataFrame({"at": [pd.Timestamp.now(tz="UTC").tz_localize(None)] * 2, "y": [0, 1]})
    assert find(run_quality_checks(fresh_spec("1h"), frame), "freshness", "at").passed


# --------------------------------------------------------------------------- the report


def failing_report() -> QualityReport:
    spec = make_spec(
        {"age": "float", "plan": "category", "y": "integer"},
        target="y",
        time_column=None,
        quality={"accuracy": {"ranges": {"age": {"min": 18}}}, "completeness": {"max_missing": {"plan": 0.2}}},
    )
    frame = pd.DataFrame({"age": [4.0, 30, 40, 50], "plan": [None, None, "a", "b"], "y": [0, 1, 0, 1]})
    return check(spec, frame)


def test_results_are_grouped_by_dimension_in_order() -> None:
    report = failing_report()
    dimensions = [r.dimension for r in report.results]
    assert dimensions == sorted(dimensions, key=["accuracy", "completeness", "consistency", "timeliness"].index)
    assert list(report.by_dimension()) == ["accuracy", "completeness", "consistency"]


def test_report_to_dict() -> None:
    report = failing_report()
    data = report.to_dict()
    assert (data["rows"], data["passed"], data["failed"], data["checks"]) == (4, False, 2, len(report.results))
    assert data["results"][0] == {
        "dimension": "accuracy",
        "check": "range",
        "column": "age",
        "passed": False,
        "observed": "1 row below 18 (min 4)",
        "expected": "age >= 18",
        "failing_rows": 1,
        "severity": "error",
        "status": "FAIL",
    }


def test_check_or_raise_lists_every_failed_check() -> None:
    with pytest.raises(CheckFailed) as caught:
        check_or_raise(failing_report(), model="m", source="data/d.csv")
    error = caught.value
    assert error.title == "Data check failed"
    assert error.message == (
        "2 of 11 data checks failed on data/d.csv:\n"
        "  accuracy/range [age]: 1 row below 18 (min 4); expected age >= 18\n"
        "  completeness/missing [plan]: missing 50%; expected missing <= 20%"
    )
    assert error.hint == "fix the data or the spec's quality expectations; the full report: mlopsctl data check m"
    assert error.exit_code == 1


def test_check_or_raise_is_quiet_when_everything_passed() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y")
    check_or_raise(check(spec, pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})))


def test_check_result_summary_without_a_column() -> None:
    result = CheckResult("completeness", "min_rows", None, False, "3 rows", ">= 5 rows", 0)
    assert result.summary() == "completeness/min_rows: 3 rows; expected >= 5 rows"


def test_colliding_hashes_keeps_exactly_the_shared_ones() -> None:
    from mlopsctl.data.checks import _colliding

    same_low_bits = [(1 << 40) | 5, (2 << 40) | 5, (3 << 50) | 5]  # share bucket slices, differ as numbers
    hashes = np.array([*same_low_bits, 77, 99, 77, 12345, 99], dtype=np.uint64)
    assert np.flatnonzero(_colliding(hashes)).tolist() == [3, 4, 5, 7]
    assert not _colliding(np.array([1, 2, 3], dtype=np.uint64)).any()


def test_a_column_that_varies_only_after_its_first_rows_is_not_constant() -> None:
    spec = make_spec({"x": "float", "y": "integer"}, target="y")
    x = np.zeros(5000)
    x[4000] = 1.0
    report = check(spec, pd.DataFrame({"x": x, "y": np.arange(5000) % 2}))
    assert [r for r in report.results if r.check == "constant"] == []
    x[4000] = 0.0
    constant = find(check(spec, pd.DataFrame({"x": x, "y": np.arange(5000) % 2})), "constant", "x")
    assert constant.observed == "only one value: 0"


def test_range_on_an_integer_column_of_a_large_frame() -> None:
    spec = make_spec(
        {"n": "integer", "y": "integer"}, target="y", quality={"accuracy": {"ranges": {"n": {"min": 0, "max": 99}}}}
    )
    n = np.arange(100_000) % 100
    n[[10, 20]] = [-1, 100]
    result = find(check(spec, pd.DataFrame({"n": n, "y": n % 2})), "range", "n")
    assert texts(result) == (False, "1 row below 0 (min -1); 1 row above 99 (max 100)", "0 <= n <= 99", 2)


def test_duplicate_rows_must_agree_on_every_column_not_just_the_first_hashed() -> None:
    spec = make_spec(
        {"a": "float", "b": "float", "c": "integer", "at": "datetime", "plan": "category", "y": "integer"},
        target="y",
        quality={"consistency": {"no_duplicate_rows": True}, "completeness": {"default_max_missing": 1.0}},
    )
    rows = 3000
    frame = pd.DataFrame(
        {
            "a": np.arange(rows) % 7 * 0.5,
            "b": np.zeros(rows),
            "c": np.arange(rows) % 7,
            "at": pd.Timestamp("2024-01-01"),
            "plan": [f"p{i}" for i in range(rows)],  # makes every row distinct, though a, b, c, at repeat
            "y": np.arange(rows) % 2,
        }
    )
    assert find(check(spec, frame), "duplicate_rows").observed == "none"
    frame.loc[2999, ["a", "c", "plan", "y"]] = [frame.loc[5, "a"], frame.loc[5, "c"], "p5", frame.loc[5, "y"]]
    frame.loc[1500, "plan"] = None
    frame.loc[2000, ["a", "c", "plan", "y"]] = [frame.loc[1500, "a"], frame.loc[1500, "c"], None, frame.loc[1500, "y"]]
    result = find(check(spec, frame), "duplicate_rows")
    assert texts(result) == (False, "2 duplicate rows, e.g. row 2001 repeats row 1501", "no duplicate rows", 2)
