"""The result of data quality checks: one line per expectation, grouped by the four dimensions.

A :class:`CheckResult` says what was expected and what was observed, in words a person reads in a
table and a script reads in JSON. ``passed`` decides the exit code; ``severity`` marks results that
pass but deserve a look (``warning``: a constant column; ``info``: columns the spec does not declare).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlopsctl.errors import CheckFailed

Dimension = Literal["accuracy", "completeness", "consistency", "timeliness"]
Severity = Literal["error", "warning", "info"]
DIMENSIONS: tuple[Dimension, ...] = ("accuracy", "completeness", "consistency", "timeliness")


@dataclass(frozen=True)
class CheckResult:
    """One expectation checked against the data."""

    dimension: Dimension
    check: str
    """range, allowed, pattern, min_rows, required, missing, schema, type, unique, duplicate_rows,
    constant, target or freshness."""
    column: str | None
    """The column checked, or None for checks of the whole table."""
    passed: bool
    observed: str
    """What the data shows, e.g. "3 rows below 18 (min 4)" or "missing 7.1%"."""
    expected: str
    """What the spec asks, e.g. "18 <= age <= 110" or "missing <= 5%"."""
    failing_rows: int
    """Rows that break the per-row rule (for missing: the missing values counted against the allowance)."""
    severity: Severity = "error"
    """How much a result matters: error (decides pass or fail), warning or info (never fail)."""

    @property
    def status(self) -> str:
        """FAIL, WARN or PASS, as the table shows it."""
        if not self.passed:
            return "FAIL"
        return "WARN" if self.severity == "warning" else "PASS"

    def summary(self) -> str:
        """One line: ``accuracy/range [age]: 3 rows below 18 (min 4); expected 18 <= age <= 110``."""
        where = f" [{self.column}]" if self.column is not None else ""
        return f"{self.dimension}/{self.check}{where}: {self.observed}; expected {self.expected}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


@dataclass(frozen=True)
class QualityReport:
    """Every check run on one data set."""

    rows: int
    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    def failures(self) -> list[CheckResult]:
        return [result for result in self.results if not result.passed]

    def warnings(self) -> list[CheckResult]:
        return [result for result in self.results if result.passed and result.severity == "warning"]

    def by_dimension(self) -> dict[Dimension, list[CheckResult]]:
        """Results grouped in the order accuracy, completeness, consistency, timeliness (empty groups left out)."""
        groups: dict[Dimension, list[CheckResult]] = {}
        for dimension in DIMENSIONS:
            found = [result for result in self.results if result.dimension == dimension]
            if found:
                groups[dimension] = found
        return groups

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "passed": self.passed,
            "checks": len(self.results),
            "failed": len(self.failures()),
            "warnings": len(self.warnings()),
            "results": [result.to_dict() for result in self.results],
        }


def check_or_raise(report: QualityReport, *, model: str | None = None, source: str | None = None) -> None:
    """Raise :class:`CheckFailed` listing every failed check; return quietly when all passed."""
    failed = report.failures()
    if not failed:
        return
    where = f" on {source}" if source else ""
    lines = "\n".join(f"  {result.summary()}" for result in failed)
    command = f"mlopsctl data check {model}" if model else "mlopsctl data check MODEL"
    raise CheckFailed(
        f"{len(failed)} of {len(report.results)} data checks failed{where}:\n{lines}",
        title="Data check failed",
        hint=f"fix the data or the spec's quality expectations; the full report: {command}",
    )
