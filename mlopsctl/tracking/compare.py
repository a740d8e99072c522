"""Side-by-side comparison of runs: only what differs (params, metrics, data, commit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlopsctl.tracking.store import Run

MISSING = None


@dataclass
class Comparison:
    """Rows of ``name -> one value per run``, keeping only the names whose values differ."""

    run_ids: list[str]
    params: dict[str, list[Any]] = field(default_factory=dict)
    metrics: dict[str, list[Any]] = field(default_factory=dict)
    other: dict[str, list[Any]] = field(default_factory=dict)
    """Model, estimator, data fingerprint, commit and status, when they differ."""

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.run_ids, "params": self.params, "metrics": self.metrics, "other": self.other}

    @property
    def identical(self) -> bool:
        return not (self.params or self.metrics or self.other)


def compare_runs(runs: list[Run]) -> Comparison:
    comparison = Comparison(run_ids=[run.id for run in runs])
    comparison.params = _differing([run.params for run in runs])
    comparison.metrics = _differing([run.metrics for run in runs])
    comparison.other = _differing([_context(run) for run in runs])
    return comparison


def _context(run: Run) -> dict[str, Any]:
    data = run.data or {}
    return {
        "model": run.model,
        "estimator": run.estimator,
        "status": run.status,
        "data": data.get("uri"),
        "data_sha256": data.get("sha256"),
        "commit": run.git_commit,
        "dirty": run.git_dirty,
        "version": run.version,
    }


def _differing(maps: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names: list[str] = []
    for mapping in maps:
        names.extend(name for name in mapping if name not in names)
    rows = {name: [mapping.get(name, MISSING) for mapping in maps] for name in names}
    return {name: values for name, values in rows.items() if any(v != values[0] for v in values[1:])}
