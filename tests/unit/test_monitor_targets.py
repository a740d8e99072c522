"""Where deployments listen: derived from the environment file, or read from apply's state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlopsctl.errors import CheckFailed
from mlopsctl.monitor.judge import State, psi_check
from mlopsctl.monitor.targets import Endpoint, deployment_endpoints
from mlopsctl.spec.loader import open_repo
from mlopsctl.spec.models import Thresholds
from tests.support.status_repo import set_environment


def test_endpoints_from_the_environment_file(model_repo: Path) -> None:
    set_environment(
        model_repo,
        "staging",
        {
            "churn": {"version": 3},
            "fraud": {"version": 1, "port": 9000},
            "prices": {"version": 2, "candidate": 3, "strategy": "canary", "weight": 10},
            "risk": {"version": 5, "candidate": 6, "strategy": "shadow"},
        },
        base_port=8300,
    )
    endpoints = deployment_endpoints(open_repo(model_repo), "staging")
    assert endpoints == [
        Endpoint("churn", 3, "stable", "127.0.0.1", 8300, "staging"),
        Endpoint("fraud", 1, "stable", "127.0.0.1", 9000, "staging"),
        Endpoint("prices", 2, "stable", "127.0.0.1", 8302, "staging"),
        Endpoint("prices", 3, "canary", "127.0.0.1", 8302, "staging"),
        Endpoint("risk", 5, "stable", "127.0.0.1", 8303, "staging"),
        Endpoint("risk", 6, "shadow", "127.0.0.1", 8303, "staging"),
    ]
    assert endpoints[0].metrics_url == "http://127.0.0.1:8300/metrics"


def test_the_state_file_wins(model_repo: Path) -> None:
    set_environment(model_repo, "staging", {"churn": {"version": 3}})
    repo = open_repo(model_repo)
    state = repo.state_dir / "targets" / "staging.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"endpoints": [{"model": "churn", "version": 3, "role": "stable", "port": 41000}]}))
    assert deployment_endpoints(repo, "staging") == [Endpoint("churn", 3, "stable", "127.0.0.1", 41000, "staging")]


def test_an_unreadable_state_file_is_named(model_repo: Path) -> None:
    repo = open_repo(model_repo)
    state = repo.state_dir / "targets" / "staging.json"
    state.parent.mkdir(parents=True)
    state.write_text("{not json")
    with pytest.raises(CheckFailed, match=r"the target state file .*staging\.json is unreadable"):
        deployment_endpoints(repo, "staging")


@pytest.mark.parametrize(
    ("value", "observations", "expected"),
    [
        (0.31, 900, (State.CRIT, "feature `age` PSI 0.31 > 0.25 over 1h")),
        (0.25, 900, (State.CRIT, "feature `age` PSI 0.25 >= 0.25 over 1h")),
        (0.12, 900, (State.WARN, "feature `age` PSI 0.12 > 0.1 over 1h")),
        (0.02, 900, (State.OK, "feature `age` PSI 0.02 over 1h")),
        (0.9, 499, (State.UNKNOWN, "feature `age`: not enough data (499 < 500) over 1h")),
        (float("nan"), 0, (State.UNKNOWN, "feature `age`: not enough data (0 < 500) over 1h")),
    ],
)
def test_psi_verdicts(value: float, observations: float, expected: tuple[State, str]) -> None:
    assert psi_check("feature `age`", value, observations, Thresholds(warn=0.1, crit=0.25), 500, "over 1h") == expected
