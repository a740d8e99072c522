"""The rendered MlopsLivePerformance alert: promtool checks it and proves when it fires.

It fires (for 5m) when the service's ``mlops_live_performance`` is under the spec's bound and
``mlops_live_labels`` has reached ``min_observations``; with too few labels it stays silent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.monitor.render import CONFIG_FILE, RULES_FILE, render_environment, write_rendered
from mlopsctl.spec.loader import open_repo
from tests.support.services import require_prometheus
from tests.support.status_repo import set_environment, set_monitoring

pytestmark = pytest.mark.prometheus

ENV = "staging"
SERIES = 'env="staging", instance="127.0.0.1:8100", job="mlopsctl-staging", model="churn", role="stable", version="1"'


@pytest.fixture
def rendered(model_repo: Path, tmp_path: Path) -> Path:
    performance = {"metric": "accuracy", "warn_below": 0.9, "crit_below": 0.75}
    set_monitoring(model_repo, window="10m", min_observations=100, performance=performance)
    set_environment(model_repo, ENV, {"churn": {"version": 1, "port": 8100}})
    folder = tmp_path / "monitoring"
    write_rendered(render_environment(open_repo(model_repo), ENV, scrape_interval="1m"), folder)
    return folder


def promtool(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe is not None
    return subprocess.run([exe, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False)


def alert(severity: str, value: str, bound: str) -> dict[str, Any]:
    labels = {"env": ENV, "model": "churn", "version": "1", "role": "stable", "metric": "accuracy"}
    summary = f"live accuracy of churn@1 (stable) in staging: {value} < {bound} over 10m"
    return {"exp_labels": {**labels, "severity": severity}, "exp_annotations": {"summary": summary}}


def test_promtool_accepts_the_rules_with_the_performance_alert(rendered: Path) -> None:
    require_prometheus()
    assert promtool(rendered, "check", "config", CONFIG_FILE).returncode == 0
    rules = promtool(rendered, "check", "rules", RULES_FILE)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 21 rules found" in rules.stdout  # 19 as without it, and its warning and critical


def test_promtool_fires_live_performance_only_with_enough_labels(rendered: Path) -> None:
    require_prometheus()
    metric = f'{SERIES}, metric="accuracy"'
    spec = {
        "rule_files": [RULES_FILE],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # accuracy 0.95, then 0.8 (warning), then 0.6 (critical) from minute 20
                    {"series": f"mlops_live_performance{{{metric}}}", "values": "0.95x9 0.8x10 0.6x20"},
                    # 50 labels (under the floor of 100) until minute 25, then 150
                    {"series": f"mlops_live_labels{{{metric}}}", "values": "50x24 150x15"},
                ],
                "alert_rule_test": [
                    {"eval_time": "8m", "alertname": "MlopsLivePerformance", "exp_alerts": []},
                    {"eval_time": "24m", "alertname": "MlopsLivePerformance", "exp_alerts": []},
                    {
                        "eval_time": "32m",
                        "alertname": "MlopsLivePerformance",
                        "exp_alerts": [alert("critical", "0.600", "0.75"), alert("warning", "0.600", "0.9")],
                    },
                ],
            }
        ],
    }
    (rendered / "performance_test.yml").write_text(json.dumps(spec, indent=1))
    result = promtool(rendered, "test", "rules", "performance_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
