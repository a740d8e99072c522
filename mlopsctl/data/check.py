"""``mlopsctl data check``: load a model's data set, fingerprint it, and run its quality checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlopsctl.data.load import Dataset, load_dataset
from mlopsctl.data.quality import QualityReport, run_quality_checks
from mlopsctl.spec.loader import Repo


@dataclass(frozen=True)
class DataCheck:
    """A data set and its quality report."""

    model: str
    dataset: Dataset
    report: QualityReport

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``data check -o json``."""
        return {
            "model": self.model,
            "data": self.dataset.fingerprint.model_dump(),
            "passed": self.report.passed,
            "rows": self.report.rows,
            "failed": len(self.report.failures()),
            "warnings": len(self.report.warnings()),
            "results": [result.to_dict() for result in self.report.results],
        }


def check_data(repo: Repo, model: str, path: Path | None = None, *, now: datetime | None = None) -> DataCheck:
    """Load ``model``'s data (or the file at ``path``) and check it against the model's spec."""
    spec = repo.model(model)
    dataset = load_dataset(repo, spec, path)
    return DataCheck(model=model, dataset=dataset, report=run_quality_checks(spec, dataset.frame, now=now))
