"""Small builders shared by the data unit tests: a spec from a few columns, and a result lookup."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from mlopsctl.data.quality import CheckResult, QualityReport, run_quality_checks
from mlopsctl.spec.models import ModelSpec

NOW = datetime(2024, 6, 1, 12, 0, 0)


def make_spec(
    columns: dict[str, str],
    *,
    target: str,
    task: str = "classification",
    quality: dict[str, Any] | None = None,
    time_column: str | None = None,
    source: str = "data/d.csv",
    fmt: str | None = None,
) -> ModelSpec:
    feature = next(name for name in columns if name != target)
    data: dict[str, Any] = {"source": source, "target": target, "columns": columns}
    if time_column is not None:
        data["time_column"] = time_column
    if fmt is not None:
        data["format"] = fmt
    return ModelSpec.model_validate(
        {
            "name": "m",
            "data": data,
            "quality": quality or {},
            "features": [{"name": feature, "kind": "numeric"}],
            "training": {"task": task, "estimator": "sklearn.linear_model.Ridge"},
            "evaluation": {"metrics": ["r2"]},
        }
    )


def check(spec: ModelSpec, frame: pd.DataFrame, now: datetime = NOW) -> QualityReport:
    return run_quality_checks(spec, frame, now=now)


def find(report: QualityReport, name: str, column: str | None = None) -> CheckResult:
    found = [r for r in report.results if r.check == name and r.column == column]
    assert len(found) == 1, f"{len(found)} results for {name}/{column}: {[r.summary() for r in report.results]}"
    return found[0]


def texts(result: CheckResult) -> tuple[bool, str, str, int]:
    return result.passed, result.observed, result.expected, result.failing_rows
