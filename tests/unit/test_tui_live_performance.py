"""The dashboard's drift panel shows a deployment's live performance (labels that flowed back) next to drift."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mlopsctl.monitor.health import DeploymentHealth
from mlopsctl.monitor.judge import Check, State
from mlopsctl.tui.present import drift_text


def state_with(*checks: Check) -> Any:
    deployment = DeploymentHealth("production", "churn", 3, "stable", "127.0.0.1:8100", "1h", checks=list(checks))
    return SimpleNamespace(report=SimpleNamespace(deployments=[deployment]), repo=None)


def test_a_crit_live_metric_is_shown_in_red_under_the_deployment() -> None:
    reason = "live accuracy 0.600 from 50 labels over 10m < 0.75"
    text = drift_text(state_with(Check("performance", "statistics", State.CRIT, 0.6, reason)), "churn")
    assert text.plain == f"production v3 stable\n  {reason}\n"
    assert [span.style for span in text.spans if text.plain[span.start : span.end].strip() == reason] == ["red"]


def test_without_a_performance_check_only_drift_is_shown() -> None:
    text = drift_text(state_with(Check("up", "infrastructure", State.OK, 1.0, "up")), "churn")
    assert text.plain == "production v3 stable\n"
