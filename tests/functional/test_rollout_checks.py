"""How a step's checks judge its evidence (mlopsctl/rollout/checks.py): a measured value past its
threshold fails, a figure without data says why and does not fail, drift waits for enough
observations, and live performance falls back to monitoring.performance.crit_below."""

from __future__ import annotations

from pathlib import Path

import yaml

from mlopsctl.monitor.evidence import Evidence, Figure
from mlopsctl.rollout.checks import step_checks
from mlopsctl.spec.loader import open_repo
from mlopsctl.spec.models import ModelSpec


def spec_of(root: Path, **monitoring: object) -> ModelSpec:
    path = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.setdefault("monitoring", {}).update(monitoring)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return open_repo(root).model("churn")


def evidence(**values: float | None) -> Evidence:
    made = Evidence("churn", "staging", 1, 2, "canary", 0.0, 60.0)
    made.figures = {name: Figure(name, value, f"q_{name}", "" if value is not None else "no data in the window")
                    for name, value in values.items()}  # fmt: skip
    return made


def test_a_value_past_its_threshold_fails_and_no_data_does_not(model_repo: Path) -> None:
    spec = spec_of(model_repo)
    checks = step_checks(
        evidence(candidate_requests=50, error_rate_candidate=0.02, p95_candidate_ms=4.0, p95_stable_ms=2.0,
                 agreement=None, drift_psi=0.9),
        spec,
        "1 min since then",
    )  # fmt: skip
    assert [(c.name, c.verdict, c.shown, c.limit) for c in checks] == [
        ("error rate", "fail", "2.00%", "<= 1.00%"),
        ("p95 latency vs stable", "fail", "2.00x", "<= 1.25x"),
        ("agreement", "no data", "no data: no data in the window", ">= 90.00%"),
        ("feature drift", "no data", "no data: not enough observations (50 < monitoring.min_observations 500)",
         "<= 0.25 PSI"),
    ]  # fmt: skip
    assert checks[0].promql == "q_error_rate_candidate"
    assert checks[1].promql == "(q_p95_candidate_ms)\n/ (q_p95_stable_ms)"


def test_live_performance_defaults_to_the_monitoring_floor(model_repo: Path) -> None:
    spec = spec_of(model_repo, performance={"metric": "accuracy", "warn_below": 0.9, "crit_below": 0.8})
    checks = step_checks(evidence(candidate_requests=900, live_candidate=0.75, drift_psi=0.1), spec, "1 min")
    assert [(c.name, c.verdict, c.shown, c.limit) for c in checks] == [
        ("feature drift", "pass", "0.1", "<= 0.25 PSI"),
        ("live performance", "fail", "0.75", ">= 0.8"),
    ]
