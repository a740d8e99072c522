"""The evidence a rollout step and a promotion's pull request carry (mlopsctl/monitor/evidence.py):
its one-line summary, and what it says without Prometheus. The figures against a real Prometheus are
checked in tests/integration/test_rollout_prometheus.py."""

from __future__ import annotations

from pathlib import Path

from mlopsctl.monitor.evidence import NO_PROMETHEUS, Evidence, Figure, candidate_evidence, duration_text
from mlopsctl.monitor.sources import ScrapeSource
from mlopsctl.spec.loader import open_repo


def _evidence(**values: float | None) -> Evidence:
    evidence = Evidence("churn", "staging", 2, 3, "shadow", 0.0, 86400.0, drift_threshold=0.25)
    evidence.figures = {name: Figure(name, value, f"q_{name}", label="age") for name, value in values.items()}
    return evidence


def test_summary_says_agreement_latency_errors_and_drift() -> None:
    evidence = _evidence(
        candidate_requests=12400,
        agreement=0.9723,
        p95_candidate_ms=3.12,
        p95_stable_ms=3.4,
        error_rate_candidate=0.0,
        error_rate_stable=0.0001,
        drift_psi=0.02,
    )
    assert evidence.summary() == (
        "shadow v3 agreed with v2 on 97.2% of 12,400 requests over 24 h; "
        "p95 3.1 ms vs 3.4 ms; errors 0.00% vs 0.01%; no feature drift"
    )


def test_summary_names_what_was_not_measured_and_the_drifted_feature() -> None:
    evidence = _evidence(candidate_requests=40, p95_candidate_ms=None, error_rate_candidate=0.05, drift_psi=0.4)
    evidence.end = 90.0
    assert evidence.summary() == (
        "shadow v3 answered 40 requests over 1.5 min; agreement with v2 not measured; "
        "p95 n/a vs n/a; errors 5.00% vs n/a; feature drift: `age` PSI 0.40"
    )


def test_without_prometheus_every_figure_is_missing_and_keeps_its_query(model_repo: Path) -> None:
    spec = open_repo(model_repo).model("churn")
    evidence = candidate_evidence(
        ScrapeSource([]),
        model="churn",
        env="staging",
        stable=1,
        candidate=2,
        role="canary",
        start=0.0,
        end=60.0,
        spec=spec,
    )
    assert {f.value for f in evidence.figures.values()} == {None}
    assert {f.why for f in evidence.figures.values()} == {NO_PROMETHEUS}
    assert evidence.figures["error_rate_candidate"].promql == (
        '(sum(increase(mlops_requests_total{env="staging",model="churn",version="2",role="canary",'
        'route!~"/metrics|/health.*|/metadata.*",code=~"5.."}[60s])) or vector(0))\n'
        '  / sum(increase(mlops_requests_total{env="staging",model="churn",version="2",role="canary",'
        'route!~"/metrics|/health.*|/metadata.*"}[60s]))'
    )


def test_durations_read_naturally() -> None:
    assert [duration_text(s) for s in (12, 90, 3600, 86400, 3 * 86400)] == ["12 s", "1.5 min", "1 h", "24 h", "3 d"]
