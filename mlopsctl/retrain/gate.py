"""The candidate against the running version on the primary metric, within ``evaluation.champion_margin``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlopsctl.spec.models import ModelSpec
from mlopsctl.train.api import figure, higher_is_better


@dataclass(frozen=True)
class Gate:
    """Both models on the same fresh hold-out."""

    metric: str
    candidate: float
    running: float
    running_version: int
    margin: float
    held_out_rows: int
    worse_by: float
    """How much worse the candidate is (negative: better)."""

    @property
    def passed(self) -> bool:
        return self.worse_by <= self.margin

    @property
    def summary(self) -> str:
        verdict = "better than" if self.worse_by < 0 else "not worse than" if self.passed else "worse than"
        return (
            f"candidate {self.metric} {figure(self.candidate)} vs v{self.running_version} {figure(self.running)} "
            f"on the same {self.held_out_rows} fresh held-out rows: {verdict} v{self.running_version}"
            + ("" if self.passed else f" by {figure(self.worse_by)} (champion_margin {figure(self.margin)})")
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "summary": self.summary}


def judge(spec: ModelSpec, candidate: dict[str, float], running: dict[str, float], version: int, rows: int) -> Gate:
    metric = spec.evaluation.metrics[0]
    new, old = candidate[metric], running[metric]
    worse_by = old - new if higher_is_better(metric) else new - old
    return Gate(metric, new, old, version, spec.evaluation.champion_margin, rows, worse_by)
