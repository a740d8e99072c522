"""The rendered MlopsCandidateAgreement alert: promtool checks it and proves when it fires.

Rendered only for a model deployed with a shadow or canary, it fires (for 5m) when the share of
compared rows where the candidate agreed with the stable version falls under ``monitoring.shadow``'s
bound over the window, once ``min_observations`` rows were compared; with fewer it stays silent.
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
LABELS = {"env": ENV, "model": "churn", "version": "2", "role": "shadow", "stable_version": "1"}
SERIES = ", ".join(f'{k}="{v}"' for k, v in {**LABELS, "instance": "127.0.0.1:8100", "job": "mlopsctl-staging"}.items())


@pytest.fixture
def rendered(model_repo: Path, tmp_path: Path) -> Path:
    set_monitoring(model_repo, window="10m", min_observations=100, shadow={"warn_below": 0.95, "crit_below": 0.9})
    set_environment(model_repo, ENV, {"churn": {"version": 1, "candidate": 2, "strategy": "shadow", "port": 8100}})
    folder = tmp_path / "monitoring"
    write_rendered(render_environment(open_repo(model_repo), ENV, scrape_interval="1m"), folder)
    return folder


def promtool(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe is not None
    return subprocess.run([exe, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False)


def alert(severity: str, bound: str) -> dict[str, Any]:
    summary = f"shadow churn@2 in staging agrees with v1 on 80% of rows over 10m < {bound}"
    return {"exp_labels": {**LABELS, "severity": severity}, "exp_annotations": {"summary": summary}}


def test_promtool_accepts_the_rules_with_the_agreement_alert(rendered: Path) -> None:
    require_prometheus()
    assert promtool(rendered, "check", "config", CONFIG_FILE).returncode == 0
    rules = promtool(rendered, "check", "rules", RULES_FILE)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 21 rules found" in rules.stdout  # 19 as without a candidate, and its warning and critical


def test_promtool_fires_the_agreement_alert_only_with_enough_rows(rendered: Path) -> None:
    require_prometheus()
    spec = {
        "rule_files": [RULES_FILE],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # 5 rows a minute (50 in the window: under the floor of 100) agreeing on 40%, then
                    # 20 a minute agreeing on 99% from minute 15, then on 80% from minute 45
                    {"series": f"mlops_compared_rows_total{{{SERIES}}}", "values": "0+5x14 90+20x29 690+20x20"},
                    {"series": f"mlops_agreed_rows_total{{{SERIES}}}", "values": "0+2x14 47.8+19.8x29 638+16x20"},
                ],
                "alert_rule_test": [
                    {"eval_time": "14m", "alertname": "MlopsCandidateAgreement", "exp_alerts": []},
                    {"eval_time": "40m", "alertname": "MlopsCandidateAgreement", "exp_alerts": []},
                    {
                        "eval_time": "62m",
                        "alertname": "MlopsCandidateAgreement",
                        "exp_alerts": [alert("critical", "90.0%"), alert("warning", "95.0%")],
                    },
                ],
            }
        ],
    }
    (rendered / "agreement_test.yml").write_text(json.dumps(spec, indent=1))
    result = promtool(rendered, "test", "rules", "agreement_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
