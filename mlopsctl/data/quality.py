"""Data quality checks on the four dimensions: accuracy, completeness, consistency, timeliness.

``run_quality_checks`` runs every expectation of a model's ``quality`` block (and the schema in
``data.columns``) over a frame and returns a :class:`QualityReport`; ``check_or_raise`` turns a
failed report into a :class:`~mlopsctl.errors.CheckFailed` that lists each failed check. What each
check does, and the decisions behind them, are in :mod:`mlopsctl.data.checks`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from mlopsctl.data import checks
from mlopsctl.data.report import DIMENSIONS, CheckResult, Dimension, QualityReport, Severity, check_or_raise
from mlopsctl.spec.models import ModelSpec

__all__ = [
    "DIMENSIONS",
    "CheckResult",
    "Dimension",
    "QualityReport",
    "Severity",
    "check_or_raise",
    "run_quality_checks",
]


def run_quality_checks(spec: ModelSpec, frame: pd.DataFrame, *, now: datetime | None = None) -> QualityReport:
    """Every expectation of ``spec`` checked on ``frame``; ``now`` (default: the current UTC time) judges freshness."""
    table = checks.Table.build(spec, frame, _naive_utc(now or datetime.now(UTC)))
    results = [
        *checks.accuracy(table),
        *checks.completeness(table),
        *checks.consistency(table),
        *checks.timeliness(table),
    ]
    return QualityReport(rows=len(frame), results=results)


def _naive_utc(when: datetime) -> datetime:
    """Datetime columns are tz-naive UTC; a naive ``now`` is taken as UTC too."""
    if when.tzinfo is None:
        return when
    return when.astimezone(UTC).replace(tzinfo=None)
