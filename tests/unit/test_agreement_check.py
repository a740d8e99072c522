"""The agreement check's verdicts and words: OK, WARN and CRIT by monitoring.shadow, not judged
under min_observations rows, latency and errors beside the stable version's."""

from __future__ import annotations

import pytest

from mlopsctl.monitor.health import Comparison, agreement_check
from mlopsctl.monitor.judge import State
from mlopsctl.spec.models import MonitoringSpec

MONITORING = MonitoringSpec.model_validate({"min_observations": 100, "shadow": {"warn_below": 0.98, "crit_below": 0.9}})
CANDIDATE = {"p95_latency_ms": 3.1, "error_rate": 0.0}
STABLE = {"p95_latency_ms": 3.4, "error_rate": 0.0001}


def comparison(compared: float, agreed: float, role: str = "shadow") -> Comparison:
    return Comparison(role, 2, 1, compared, agreed, dict(CANDIDATE), dict(STABLE))


@pytest.mark.parametrize(
    ("compared", "agreed", "state", "reason"),
    [
        (12_400, 12_400, State.OK, "shadow v2 agrees with v1 on 100.0% of 12,400 rows over 1h"),
        (1240, 1206, State.WARN, "shadow v2 agrees with v1 on 97.3% of 1,240 rows over 1h < 98.0%"),
        (1240, 1000, State.CRIT, "shadow v2 agrees with v1 on 80.6% of 1,240 rows over 1h < 90.0%"),
        (40, 0, State.UNKNOWN, "shadow v2 vs v1: not enough rows compared (40 < 100) over 1h"),
        (0, 0, State.UNKNOWN, "shadow v2 vs v1: not enough rows compared (0 < 100) over 1h"),
    ],
)
def test_agreement_is_judged_by_the_shadow_thresholds(
    compared: float, agreed: float, state: State, reason: str
) -> None:
    check = agreement_check(comparison(compared, agreed), MONITORING, "over 1h")
    assert (check.name, check.area, check.state) == ("agreement", "statistics", state)
    assert check.reason == f"{reason}; p95 3.1 ms vs 3.4 ms; errors 0.00% vs 0.01%"


def test_missing_latency_and_errors_are_said_so() -> None:
    found = Comparison("canary", 2, 1, 500, 500, {"p95_latency_ms": None, "error_rate": None}, dict(STABLE))
    assert agreement_check(found, MONITORING, "over 1h").reason == (
        "canary v2 agrees with v1 on 100.0% of 500 rows over 1h; p95 n/a vs 3.4 ms; errors n/a vs 0.01%"
    )
