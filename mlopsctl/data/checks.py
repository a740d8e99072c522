"""The expectations of each quality dimension, checked over whole columns at once.

Every check is vectorised (pandas, numpy or pyarrow kernels; no Python loop over rows), because
``mlopsctl train`` runs them on every data set before fitting. Rows in messages are numbered from 1
for the first data row (in a CSV file, row N is on line N + 1, below the header).

Decisions worth knowing:

- Columns the file has but the spec does not declare pass: they are reported once as ``info``
  under ``consistency/schema`` and kept, unchecked.
- A declared column that is missing fails ``completeness/required`` (the target is always required),
  and its other checks are skipped rather than failed a second time.
- A column holding a single value everywhere passes with a ``warning`` (``consistency/constant``):
  it is legal data but useless as a feature. The target is judged by ``consistency/target`` instead,
  which fails on a label with one class (classification) or one value (regression).
- Missing values never fail accuracy checks; completeness counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlopsctl.data import wording
from mlopsctl.data.report import CheckResult, Dimension, Severity
from mlopsctl.data.target import target_summary
from mlopsctl.data.types import TRUE_WORDS, Coerced, as_text, coerce
from mlopsctl.spec.models import ModelSpec, Range, duration_seconds

MAX_LISTED = 10
_HEAD_ROWS = 1024
_BUCKETS = 1 << 22
_BUCKET_MASK = np.uint64(_BUCKETS - 1)
_FIRST_HASHED = 3
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_HASH_ORDER = {"f": 0, "i": 1, "u": 1, "M": 2}  # numbers first: cheap to hash and usually distinct


@dataclass(frozen=True)
class Table:
    """The data under check, each declared column's values converted to its declared type once."""

    spec: ModelSpec
    frame: pd.DataFrame
    now: datetime
    """The current time, tz-naive UTC like the datetime columns."""
    typed: dict[str, Coerced]

    @classmethod
    def build(cls, spec: ModelSpec, frame: pd.DataFrame, now: datetime) -> Table:
        declared = spec.data.columns.items()
        typed = {name: coerce(frame[name], kind) for name, kind in declared if name in frame.columns}
        return cls(spec=spec, frame=frame, now=now, typed=typed)

    @property
    def rows(self) -> int:
        return len(self.frame)

    def values(self, column: str) -> pd.Series:
        return self.typed[column].values

    def raw(self, column: str) -> pd.Series:
        return self.frame[column]

    def has(self, column: str) -> bool:
        return column in self.typed


def result(
    dimension: Dimension,
    check: str,
    column: str | None,
    failing: int,
    observed: str,
    expected: str,
    *,
    passed: bool | None = None,
    severity: Severity = "error",
) -> CheckResult:
    """A result that passes when no row fails, unless ``passed`` says otherwise."""
    ok = failing == 0 if passed is None else passed
    return CheckResult(dimension, check, column, ok, observed, expected, failing, severity)


def _example(mask: np.ndarray, raw: pd.Series) -> str:
    """Text like "e.g. 'abc' at row 5" for the first row the mask marks."""
    position = int(np.argmax(mask))
    return f"e.g. {wording.value(raw.iloc[position])} at row {position + 1}"


# --------------------------------------------------------------------------- accuracy


def accuracy(table: Table) -> list[CheckResult]:
    """Values are right: numeric ranges, allowed values, regular expressions."""
    spec = table.spec.quality.accuracy
    found = [_range(table, column, bounds) for column, bounds in spec.ranges.items() if table.has(column)]
    found += [_allowed(table, column, allowed) for column, allowed in spec.allowed.items() if table.has(column)]
    found += [_pattern(table, column, pattern) for column, pattern in spec.patterns.items() if table.has(column)]
    return found


def _range(table: Table, column: str, bounds: Range) -> CheckResult:
    """Two passes for the extremes; rows are counted only when an extreme is out of range."""
    numbers = _numbers(table.values(column))
    expected = _range_text(column, bounds)
    extremes = _extremes(numbers)
    if extremes is None:
        return result("accuracy", "range", column, 0, "no values", expected)
    low, high = extremes
    problems = []
    failing = 0
    if bounds.min is not None and low < bounds.min:
        below = int(np.count_nonzero(numbers < bounds.min))
        problems.append(f"{wording.rows(below)} below {wording.number(bounds.min)} (min {wording.number(low)})")
        failing += below
    if bounds.max is not None and high > bounds.max:
        above = int(np.count_nonzero(numbers > bounds.max))
        problems.append(f"{wording.rows(above)} above {wording.number(bounds.max)} (max {wording.number(high)})")
        failing += above
    observed = "; ".join(problems) or f"min {wording.number(low)}, max {wording.number(high)}"
    return result("accuracy", "range", column, failing, observed, expected)


def _numbers(values: pd.Series) -> np.ndarray:
    """The values as an int64 or float64 array (missing as NaN), without a copy when they already are one."""
    if values.dtype in (np.dtype("int64"), np.dtype("float64")):
        return values.to_numpy()
    return coerce(values, "float").values.to_numpy(dtype="float64", na_value=np.nan)


def _extremes(numbers: np.ndarray) -> tuple[float, float] | None:
    """(smallest, largest) ignoring NaN, or None when there is no value."""
    if numbers.size == 0:
        return None
    if numbers.dtype.kind != "f":
        return float(numbers.min()), float(numbers.max())
    low = float(np.fmin.reduce(numbers))
    if np.isnan(low):
        return None
    return low, float(np.fmax.reduce(numbers))


def _range_text(column: str, bounds: Range) -> str:
    if bounds.min is not None and bounds.max is not None:
        return f"{wording.number(bounds.min)} <= {column} <= {wording.number(bounds.max)}"
    if bounds.min is not None:
        return f"{column} >= {wording.number(bounds.min)}"
    if bounds.max is not None:
        return f"{column} <= {wording.number(bounds.max)}"
    return "any value"


def _allowed(table: Table, column: str, allowed: Sequence[str | int | float | bool]) -> CheckResult:
    values = table.values(column)
    accepted = _accepted(values, allowed)
    outside = (~values.isin(accepted)).to_numpy(dtype=bool) & values.notna().to_numpy()
    count = int(outside.sum())
    expected = "one of " + _listing([_allowed_text(item) for item in allowed])
    observed = f"{wording.rows(count)} not allowed, {_example(outside, table.raw(column))}" if count else "all allowed"
    return result("accuracy", "allowed", column, count, observed, expected)


def _accepted(values: pd.Series, allowed: Sequence[str | int | float | bool]) -> list[object]:
    """The allowed values in the column's own type, so 1 matches 1.0 and true matches True."""
    if ptypes.is_bool_dtype(values.dtype):
        return [item if isinstance(item, bool) else str(item).strip().lower() in TRUE_WORDS for item in allowed]
    if ptypes.is_numeric_dtype(values.dtype):
        numbers = pd.to_numeric(pd.Series(list(allowed), dtype=object), errors="coerce").dropna()
        return list(numbers.astype("float64"))
    if ptypes.is_datetime64_dtype(values.dtype):
        return list(pd.to_datetime(pd.Series([str(item) for item in allowed]), errors="coerce").dropna())
    return [_allowed_text(item) for item in allowed]


def _allowed_text(item: str | int | float | bool) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return item if isinstance(item, str) else wording.number(item)


def _listing(items: list[str]) -> str:
    if len(items) <= MAX_LISTED:
        return ", ".join(items)
    return ", ".join(items[:MAX_LISTED]) + f", ... ({len(items)} values)"


def _pattern(table: Table, column: str, pattern: str) -> CheckResult:
    text = as_text(table.raw(column))
    matched = _fullmatch(text, pattern)
    failing = text.notna().to_numpy() & ~matched
    count = int(failing.sum())
    verb = "does" if count == 1 else "do"
    observed = f"{wording.rows(count)} {verb} not match, {_example(failing, text)}" if count else "all match"
    return result("accuracy", "pattern", column, count, observed, f"matches {pattern}")


def _fullmatch(text: pd.Series, pattern: str) -> np.ndarray:
    """Whole-value matches (missing values count as matching); Python's re when pyarrow's RE2 cannot."""
    try:
        matched = text.str.fullmatch(pattern, na=True)
    except Exception:  # RE2 lacks some of Python's syntax (look-arounds, back-references)
        matched = text.astype(object).str.fullmatch(pattern, na=True)
    return matched.to_numpy(dtype=bool, na_value=True)


# --------------------------------------------------------------------------- completeness


def completeness(table: Table) -> list[CheckResult]:
    """Values are there: enough rows, required columns, missing shares."""
    found = [_min_rows(table), *_required(table)]
    found += [_missing(table, column) for column in table.spec.data.columns if table.has(column)]
    return found


def _min_rows(table: Table) -> CheckResult:
    least = table.spec.quality.min_rows
    short = table.rows < least
    return result("completeness", "min_rows", None, 0, wording.rows(table.rows), f">= {least} rows", passed=not short)


def _required(table: Table) -> list[CheckResult]:
    spec = table.spec
    named = spec.quality.completeness.required or list(spec.data.columns)
    required = list(dict.fromkeys([*named, spec.data.target]))
    absent = [column for column in required if column not in table.frame.columns]
    if not absent:
        count = len(required)
        return [result("completeness", "required", None, 0, f"all {count} present", f"{count} required columns")]
    return [
        result(
            "completeness",
            "required",
            column,
            table.rows,
            "column missing from the file",
            "column present (the target)" if column == spec.data.target else "column present",
        )
        for column in absent
    ]


def _missing(table: Table, column: str) -> CheckResult:
    spec = table.spec.quality.completeness
    allowance = spec.max_missing.get(column, spec.default_max_missing)
    count = int(table.raw(column).isna().sum())
    share = count / table.rows if table.rows else 0.0
    passed = share <= allowance
    shown = wording.percent(share)
    if not passed and shown == wording.percent(allowance):
        shown = wording.precise_percent(share)
    return result(
        "completeness",
        "missing",
        column,
        count,
        f"missing {shown}",
        f"missing <= {wording.percent(allowance)}",
        passed=passed,
    )


# --------------------------------------------------------------------------- consistency


def consistency(table: Table) -> list[CheckResult]:
    """Values agree: schema, declared types, unique keys, duplicate rows, constants, a learnable target."""
    spec = table.spec.quality.consistency
    found = [_schema(table)]
    if spec.check_types:
        found += [_type(table, column) for column in table.typed]
    found += [_unique(table, column) for column in spec.unique if table.has(column)]
    if spec.no_duplicate_rows:
        found.append(_duplicate_rows(table.frame))
    constants = (_constant(table, column) for column in table.typed if column != table.spec.data.target)
    found += [warning for warning in constants if warning is not None]
    target = _target(table)
    return found + ([target] if target is not None else [])


def _schema(table: Table) -> CheckResult:
    declared = table.spec.data.columns
    extra = [str(column) for column in table.frame.columns if column not in declared]
    expected = "the columns in data.columns"
    if not extra:
        return result("consistency", "schema", None, 0, "no undeclared columns", expected)
    if len(extra) == len(table.frame.columns):
        # Not the data set at all (say, /etc/passwd): its header would be a line of the file, so say so instead.
        found = wording.plural(len(extra), "column")
        observed = f"the file's header does not match data.columns ({found}, none declared)"
        return result("consistency", "schema", None, 0, observed, expected, passed=False)
    names = [wording.text(name) for name in extra]
    observed = f"{wording.plural(len(extra), 'undeclared column')} kept, not checked: {_listing(names)}"
    return result("consistency", "schema", None, 0, observed, expected, severity="info")


def _type(table: Table, column: str) -> CheckResult:
    declared = table.spec.data.columns[column]
    typed = table.typed[column]
    count = typed.bad_count
    if count == 0:
        return result("consistency", "type", column, 0, f"all {declared}", declared)
    assert typed.bad is not None
    observed = f"{count} {'value' if count == 1 else 'values'} not {declared}, {_example(typed.bad, table.raw(column))}"
    return result("consistency", "type", column, count, observed, declared)


def _unique(table: Table, column: str) -> CheckResult:
    values = table.values(column)
    present = values.notna().to_numpy()
    repeated = values.duplicated().to_numpy() & present
    count = int(repeated.sum())
    if count == 0:
        return result("consistency", "unique", column, 0, f"all {int(present.sum())} distinct", "unique values")
    second = int(np.argmax(repeated))
    first = int(np.argmax((values == values.iloc[second]).to_numpy(dtype=bool, na_value=False)))
    example = f"e.g. {wording.value(table.raw(column).iloc[second])} at rows {first + 1} and {second + 1}"
    observed = f"{count} duplicate {'value' if count == 1 else 'values'}, {example}"
    return result("consistency", "unique", column, count, observed, "unique values")


def _duplicate_rows(frame: pd.DataFrame) -> CheckResult:
    """Rows whose hashes collide, narrowed column by column, then compared in full."""
    expected = "no duplicate rows"
    positions, hashes = _duplicate_candidates(frame)
    if positions.size == 0:
        return result("consistency", "duplicate_rows", None, 0, "none", expected)
    repeated = frame.take(positions).duplicated().to_numpy()
    count = int(repeated.sum())
    if count == 0:
        return result("consistency", "duplicate_rows", None, 0, "none", expected)
    later = int(np.argmax(repeated))
    earlier = int(np.argmax(hashes == hashes[later]))
    first, second = int(positions[earlier]), int(positions[later])
    observed = f"{count} duplicate {'row' if count == 1 else 'rows'}, e.g. row {second + 1} repeats row {first + 1}"
    return result("consistency", "duplicate_rows", None, count, observed, expected)


def _duplicate_candidates(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of rows that may repeat another row, and their combined hashes.

    Equal rows have equal hashes over any set of columns, so a row whose hash over a few columns
    is unique cannot be a duplicate. Hashing a first few (numeric, usually distinct) columns for
    every row and then each further column only for the rows still in question leaves nearly
    nothing to compare, at a fraction of the cost of hashing the whole table.
    """
    columns = sorted(frame.columns, key=lambda name: _HASH_ORDER.get(frame[name].dtype.kind, 3))
    positions = np.arange(len(frame))
    hashes: np.ndarray = np.zeros(len(frame), dtype=np.uint64)
    for index, column in enumerate(columns):
        values = frame[column] if positions.size == len(frame) else frame[column].take(positions)
        column_hashes = pd.util.hash_pandas_object(values, index=False).to_numpy()
        hashes = (hashes ^ column_hashes) * _HASH_MULTIPLIER
        if index + 1 < _FIRST_HASHED and index + 1 < len(columns):
            continue
        shared = _colliding(hashes)
        positions, hashes = positions[shared], hashes[shared]
        if positions.size == 0:
            break
    return positions, hashes


def _colliding(hashes: np.ndarray) -> np.ndarray:
    """Boolean mask of the hashes another element shares.

    Three rounds of counting 22-bit slices of the hash (np.bincount) discard almost every unique
    one cheaply; a hash table sorts out the few that are left.
    """
    positions = np.arange(hashes.size)
    for shift in (0, 21, 42):
        if positions.size < 2:
            positions = positions[:0]
            break
        buckets = ((hashes[positions] >> np.uint64(shift)) & _BUCKET_MASK).astype(np.intp)
        counts = np.bincount(buckets, minlength=_BUCKETS)
        positions = positions[counts[buckets] > 1]
    mask = np.zeros(hashes.size, dtype=bool)
    mask[positions[pd.Series(hashes[positions]).duplicated(keep=False).to_numpy()]] = True
    return mask


def _constant(table: Table, column: str) -> CheckResult | None:
    """A warning for a column with one value in every row that has one; None for any other column."""
    values = table.values(column)
    head = values.iloc[:_HEAD_ROWS].dropna()
    if not head.empty and bool((head != head.iloc[0]).any()):
        return None  # it varies within its first rows: the usual case costs nothing
    present = values.dropna()
    if present.empty or not _single_valued(present):
        return None
    observed = f"only one value: {wording.value(present.iloc[0])}"
    return result("consistency", "constant", column, 0, observed, "more than one value", severity="warning")


def _single_valued(values: pd.Series) -> bool:
    if ptypes.is_numeric_dtype(values.dtype) or ptypes.is_datetime64_dtype(values.dtype):
        return bool(values.min() == values.max())
    return bool((values == values.iloc[0]).all())


def _target(table: Table) -> CheckResult | None:
    summary = target_summary(table.frame, table.spec)
    if not summary.present:
        return None  # completeness/required already fails it
    failing = 0 if summary.learnable else summary.labelled
    return result(
        "consistency",
        "target",
        summary.column,
        failing,
        summary.describe(),
        summary.expectation(),
        passed=summary.learnable,
    )


# --------------------------------------------------------------------------- timeliness


def timeliness(table: Table) -> list[CheckResult]:
    """Values are recent: the newest timestamp is no older than the declared age."""
    spec = table.spec.quality.timeliness
    if spec is None:
        return []
    column = spec.column or table.spec.data.time_column
    if column is None:
        return []
    expected = f"newest not older than {spec.max_age}"
    if column not in table.frame.columns:
        return [result("timeliness", "freshness", column, 0, "column missing from the file", expected, passed=False)]
    stamps = coerce(table.values(column), "datetime").values.dropna()
    if stamps.empty:
        return [result("timeliness", "freshness", column, 0, "no timestamps", expected, passed=False)]
    newest = pd.Timestamp(stamps.max())
    seconds = (pd.Timestamp(table.now) - newest).total_seconds()
    if seconds < 0:
        observed = f"newest {wording.timestamp(newest)}, {wording.age(-seconds)} in the future"
    else:
        observed = f"newest {wording.timestamp(newest)}, {wording.age(seconds)} old"
    fresh = seconds <= duration_seconds(spec.max_age)
    return [result("timeliness", "freshness", column, 0, observed, expected, passed=fresh)]
