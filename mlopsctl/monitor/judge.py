"""Verdicts: a value, the spec's thresholds, and a one-line reason a person can act on.

States are ordered OK < UNKNOWN < WARN < CRIT; a deployment takes its worst check's state.
UNKNOWN means "not judged" (not enough data, no reference): it never fails a CI job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from mlopsctl.spec.models import Thresholds


class State(IntEnum):
    OK = 0
    UNKNOWN = 1
    WARN = 2
    CRIT = 3

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Check:
    """One judged value of a deployment."""

    name: str
    """What was checked: up, restarts, error_rate, p95_latency, feature:<name>, prediction, performance."""
    area: str
    """infrastructure or statistics."""
    state: State
    value: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        value = None if self.value is None or math.isnan(self.value) else self.value
        return {"name": self.name, "area": self.area, "state": str(self.state), "value": value, "reason": self.reason}


def level(value: float, thresholds: Thresholds) -> State:
    """CRIT at or past crit, WARN at or past warn, else OK."""
    if value >= thresholds.crit:
        return State.CRIT
    if value >= thresholds.warn:
        return State.WARN
    return State.OK


def past(value: float, thresholds: Thresholds) -> str:
    """`` > 0.25`` or `` >= 0.25``: the threshold the value reached, for the reason text."""
    bound = thresholds.crit if value >= thresholds.crit else thresholds.warn
    return f"{'>' if value > bound else '>='} {bound:g}"


def psi_check(
    label: str, value: float, observations: float, thresholds: Thresholds, min_observations: int, over: str
) -> tuple[State, str]:
    """Judge a PSI, refusing to when the window holds too few observations (random bins drift)."""
    if observations < min_observations or math.isnan(value):
        return State.UNKNOWN, f"{label}: not enough data ({observations:.0f} < {min_observations}) {over}"
    state = level(value, thresholds)
    if state is State.OK:
        return state, f"{label} PSI {value:.2f} {over}"
    return state, f"{label} PSI {value:.2f} {past(value, thresholds)} {over}"
