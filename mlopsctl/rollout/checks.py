"""The checks of a canary step: the spec's ``rollout.checks`` against the step's live evidence.

Each check keeps its value, its threshold, the window it was measured over and the PromQL behind
it. A check whose figure has no data (a service that exports no comparison yet, no labels joined)
says so and does not fail the step: only a measured value past its threshold rolls back. Drift is
judged once the candidate has answered ``monitoring.min_observations`` requests (fewer rows make
PSI noise, as ``status`` says).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlopsctl.monitor.evidence import Evidence, Figure
from mlopsctl.spec.models import ModelSpec

Verdict = Literal["pass", "fail", "no data"]


@dataclass(frozen=True)
class StepCheck:
    """One check of a step, as the table, the JSON and the commit message show it."""

    name: str
    value: float | None
    threshold: float
    verdict: Verdict
    shown: str
    """The value in words (``0.40%``, ``3.1 ms``, ``no data: ...``)."""
    limit: str
    """The threshold in words (``<= 1.00%``)."""
    window: str
    promql: str

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """``error rate 0.40% (<= 1.00%): pass``."""
        return f"{self.name} {self.shown} ({self.limit}): {self.verdict}"


def step_checks(evidence: Evidence, spec: ModelSpec, window: str) -> list[StepCheck]:
    """Every check the spec turns on, in a fixed order."""
    checks = spec.rollout.checks
    found: list[StepCheck | None] = [
        _upper("error rate", evidence.figures.get("error_rate_candidate"), checks.max_error_rate, _percent, window),
        _latency_ratio(evidence, checks.max_p95_latency_ratio, window),
        _upper("p95 latency", evidence.figures.get("p95_candidate_ms"), checks.max_p95_latency_ms, _ms, window),
        _lower("agreement", evidence.figures.get("agreement"), checks.min_agreement, _percent, window),
        _drift(evidence, spec, window),
        _lower("live performance", evidence.figures.get("live_candidate"), _live_floor(spec), _plain, window),
    ]
    return [check for check in found if check is not None]


def _upper(
    name: str, figure: Figure | None, limit: float | None, fmt: Callable[[float], str], window: str
) -> StepCheck | None:
    if limit is None or figure is None:
        return None
    return _judged(name, figure, limit, f"<= {fmt(limit)}", fmt, window, lambda v: v <= limit)


def _lower(
    name: str, figure: Figure | None, limit: float | None, fmt: Callable[[float], str], window: str
) -> StepCheck | None:
    if limit is None or figure is None:
        return None
    return _judged(name, figure, limit, f">= {fmt(limit)}", fmt, window, lambda v: v >= limit)


def _judged(
    name: str,
    figure: Figure,
    threshold: float,
    limit: str,
    fmt: Callable[[float], str],
    window: str,
    passes: Callable[[float], bool],
) -> StepCheck:
    if figure.value is None:
        return StepCheck(name, None, threshold, "no data", f"no data: {figure.why}", limit, window, figure.promql)
    verdict: Verdict = "pass" if passes(figure.value) else "fail"
    shown = fmt(figure.value) + (f" (`{figure.label}`)" if figure.label else "")
    return StepCheck(name, figure.value, threshold, verdict, shown, limit, window, figure.promql)


def _latency_ratio(evidence: Evidence, limit: float | None, window: str) -> StepCheck | None:
    ours, theirs = evidence.figures.get("p95_candidate_ms"), evidence.figures.get("p95_stable_ms")
    if limit is None or ours is None:
        return None
    promql = f"({ours.promql})\n/ ({theirs.promql})" if theirs is not None else ours.promql
    value, why = None, ""
    if ours.value is None:
        why = ours.why
    elif theirs is None:
        why = "no stable version to compare with"
    elif not theirs.value:
        why = theirs.why or "the stable version's p95 is 0"
    else:
        value = ours.value / theirs.value
    ratio = Figure("p95_ratio", value, promql, why)
    return _judged("p95 latency vs stable", ratio, limit, f"<= {limit:g}x", _times, window, lambda v: v <= limit)


def _drift(evidence: Evidence, spec: ModelSpec, window: str) -> StepCheck | None:
    limit, figure = spec.rollout.checks.max_drift_psi, evidence.figures.get("drift_psi")
    if limit is None or figure is None:
        return None
    observed, floor = evidence.value("candidate_requests") or 0.0, spec.monitoring.min_observations
    if figure.value is not None and observed < floor:
        why = f"not enough observations ({observed:.0f} < monitoring.min_observations {floor})"
        figure = Figure(figure.name, None, figure.promql, why)
    return _judged("feature drift", figure, limit, f"<= {limit:g} PSI", _plain, window, lambda v: v <= limit)


def _live_floor(spec: ModelSpec) -> float | None:
    if spec.rollout.checks.min_live_performance is not None:
        return spec.rollout.checks.min_live_performance
    performance = spec.monitoring.performance
    return performance.crit_below if performance is not None else None


def _percent(value: float) -> str:
    return f"{value:.2%}"


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _times(value: float) -> str:
    return f"{value:.2f}x"


def _plain(value: float) -> str:
    return f"{value:.3g}"
