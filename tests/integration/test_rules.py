"""Rendered Prometheus files: promtool checks them, and ``promtool test rules`` proves the PSI rule.

The recording rule computes PSI in PromQL from bin counters and reference-share gauges; each case
here feeds promtool the same counter samples that Python turns into counts (``counter_increase``)
and asserts that the rule's value equals ``stats.psi`` on those counts within 1e-9: a shifted
feature, an identical one, a counter reset, and empty bins (reference and live).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.monitor import stats
from mlopsctl.monitor.render import CONFIG_FILE, RULES_FILE, render_environment, write_rendered
from mlopsctl.monitor.sources import counter_increase
from mlopsctl.spec.loader import open_repo
from tests.support.services import require_prometheus
from tests.support.status_repo import set_environment, set_monitoring

pytestmark = pytest.mark.prometheus

ENV = "staging"
LABELS = {"env": ENV, "model": "churn", "version": "1", "role": "stable"}
MINUTES = 30
WINDOW_MINUTES = 10


@dataclass(frozen=True)
class Case:
    feature: str
    shares: Sequence[float]
    samples: Sequence[Sequence[float]]
    """Per bin, the counter's value at each minute 0..MINUTES."""

    def counts(self, at: int) -> list[float]:
        return [counter_increase(list(s[at - WINDOW_MINUTES : at + 1])) for s in self.samples]

    def psi(self, at: int) -> float:
        return stats.psi(self.shares, self.counts(at))


def steady(per_minute: float) -> list[float]:
    return [per_minute * minute for minute in range(MINUTES + 1)]


def with_reset(per_minute: float, at: int) -> list[float]:
    """A counter that restarts from 0 at minute ``at`` (a service restart)."""
    return [per_minute * m if m < at else per_minute * (m - at) + per_minute / 2 for m in range(MINUTES + 1)]


CASES = [
    Case("shifted", [0.25, 0.25, 0.25, 0.25], [steady(1), steady(2), steady(3), steady(14)]),
    Case("identical", [0.1, 0.2, 0.3, 0.4], [steady(2), steady(4), steady(6), steady(8)]),
    Case("reset", [0.3, 0.3, 0.4], [steady(3), with_reset(3, 17), steady(4)]),
    Case("empty", [0.2, 0.3, 0.5, 0.0], [steady(0), steady(3), steady(5), steady(2)]),
]


def series_values(values: Sequence[float]) -> str:
    return " ".join(repr(float(v)) for v in values)


def labels_text(extra: dict[str, str], name: str = "") -> str:
    body = ", ".join(f'{k}="{v}"' for k, v in {**LABELS, **extra}.items())
    return f"{name}{{{body}}}"


def input_series(cases: Sequence[Case]) -> list[dict[str, str]]:
    series = []
    for case in cases:
        for index, (share, samples) in enumerate(zip(case.shares, case.samples, strict=True)):
            extra = {
                "feature": case.feature,
                "bin": f"b{index}",
                "instance": "127.0.0.1:8100",
                "job": "mlopsctl-staging",
            }
            series.append({"series": labels_text(extra, "mlops_feature_bin_total"), "values": series_values(samples)})
            gauge = labels_text(extra, "mlops_feature_reference_share")
            series.append({"series": gauge, "values": f"{share!r}x{MINUTES}"})
    return series


def psi_tests(cases: Sequence[Case], at: int) -> list[dict[str, Any]]:
    tests = []
    for case in cases:
        selector = labels_text({"feature": case.feature}, "mlops:feature_psi")
        tests.append(
            {
                "expr": f"abs({selector} - {case.psi(at)!r}) < bool 1e-9",
                "eval_time": f"{at}m",
                "exp_samples": [{"labels": labels_text({"feature": case.feature, "window": "10m"}), "value": 1}],
            }
        )
    return tests


@pytest.fixture
def rendered(model_repo: Path, tmp_path: Path) -> Path:
    set_monitoring(model_repo, window="10m", min_observations=100)
    set_environment(model_repo, ENV, {"churn": {"version": 1, "port": 8100}})
    folder = tmp_path / "monitoring"
    write_rendered(render_environment(open_repo(model_repo), ENV, scrape_interval="1m"), folder)
    return folder


def promtool(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe is not None
    return subprocess.run([exe, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_accepts_the_rendered_config_and_rules(rendered: Path) -> None:
    require_prometheus()
    config = promtool(rendered, "check", "config", CONFIG_FILE)
    assert config.returncode == 0, config.stdout + config.stderr
    rules = promtool(rendered, "check", "rules", RULES_FILE)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 19 rules found" in rules.stdout  # 2 x 3 recording rules, 13 alerts


def test_rendered_scrape_config_labels_targets_with_env(rendered: Path) -> None:
    config = yaml.safe_load((rendered / CONFIG_FILE).read_text())
    assert config["scrape_configs"] == [
        {
            "job_name": "mlopsctl-staging",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": ["127.0.0.1:8100"], "labels": {"env": "staging", "service": "churn"}}],
        }
    ]
    assert config["rule_files"] == [RULES_FILE]


def test_rules_clamp_with_the_python_epsilon(rendered: Path) -> None:
    text = (rendered / RULES_FILE).read_text()
    assert f'clamp_min(mlops:feature_bin_share:ratio{{env="staging",model="churn"}}, {stats.EPS!r})' in text
    assert "increase(sum" not in text


def test_promtool_proves_the_psi_rule_equals_python(rendered: Path) -> None:
    require_prometheus()
    assert CASES[1].psi(WINDOW_MINUTES) == 0.0
    assert all(c.psi(WINDOW_MINUTES) > 0.0 for c in (CASES[0], CASES[3]))
    assert CASES[2].counts(20)[1] == counter_increase(CASES[2].samples[1][10:21]) == 3 * 9 + 1.5
    spec = {
        "rule_files": [RULES_FILE],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series(CASES),
                "promql_expr_test": [*psi_tests(CASES, WINDOW_MINUTES), *psi_tests(CASES, 20)],
            }
        ],
    }
    (rendered / "psi_test.yml").write_text(json.dumps(spec, indent=1))
    result = promtool(rendered, "test", "rules", "psi_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_fires_the_drift_alert_for_the_shifted_feature_alone(rendered: Path) -> None:
    require_prometheus()
    at = 20
    value = CASES[0].psi(at)
    alerts = []
    for severity, threshold in (("critical", 0.25), ("warning", 0.1)):
        summary = f"feature shifted of churn@1 PSI {value:.2f} >= {threshold:g} over 10m"
        alerts.append(
            {
                "exp_labels": {**LABELS, "feature": "shifted", "window": "10m", "severity": severity},
                "exp_annotations": {"summary": summary},
            }
        )
    spec = {
        "rule_files": [RULES_FILE],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series([CASES[0], CASES[1], CASES[2]]),  # shifted, identical, reset
                "alert_rule_test": [{"eval_time": f"{at}m", "alertname": "MlopsFeatureDrift", "exp_alerts": alerts}],
            }
        ],
    }
    (rendered / "alert_test.yml").write_text(json.dumps(spec, indent=1))
    result = promtool(rendered, "test", "rules", "alert_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_fires_service_down(rendered: Path) -> None:
    require_prometheus()
    up = '{env="staging", instance="127.0.0.1:8100", job="mlopsctl-staging", service="churn"}'
    spec = {
        "rule_files": [RULES_FILE],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": f"up{up}", "values": "1 1 0 0 0 0"}],
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "MlopsServiceDown", "exp_alerts": []},
                    {
                        "eval_time": "4m",
                        "alertname": "MlopsServiceDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "env": "staging",
                                    "instance": "127.0.0.1:8100",
                                    "job": "mlopsctl-staging",
                                    "service": "churn",
                                    "severity": "critical",
                                },
                                "exp_annotations": {"summary": "service churn at 127.0.0.1:8100 is down"},
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (rendered / "down_test.yml").write_text(json.dumps(spec, indent=1))
    result = promtool(rendered, "test", "rules", "down_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_monitoring_render_command(cli: Any, model_repo: Path, tmp_path: Path) -> None:
    require_prometheus()
    set_environment(model_repo, ENV, {"churn": {"version": 1, "port": 8100}})
    out = tmp_path / "rendered"
    result = cli("monitoring", "render", "--repo", str(model_repo), "--env", ENV, "--out", str(out))
    assert result.code == 0, result.stderr
    folder = out / ENV
    assert result.stdout.splitlines()[:6] == [
        f"rendered staging -> {folder}",
        f"  {folder / 'prometheus.yml'}",
        f"  {folder / 'rules.yml'}",
        f"  {folder / 'dashboard.json'}",
        "  checked: promtool check config, promtool check rules",
        "",
    ]
    dashboard = json.loads((folder / "dashboard.json").read_text())
    assert dashboard["uid"] == "mlopsctl-staging"
    assert [p["title"] for p in dashboard["panels"]][4] == "Feature drift (PSI)"
    assert dashboard["panels"][4]["targets"][0]["expr"] == 'mlops:feature_psi{env="staging",model=~"$model"}'


def test_monitoring_render_every_environment_by_default(cli: Any, model_repo: Path) -> None:
    result = cli("monitoring", "render", "--repo", str(model_repo), "-o", "json")
    assert result.code == 0, result.stderr
    rendered = json.loads(result.stdout)["rendered"]
    assert [r["env"] for r in rendered] == ["production", "staging"]
    assert (model_repo / "monitoring" / "production" / "rules.yml").is_file()


def test_monitoring_render_unknown_environment(cli: Any, model_repo: Path) -> None:
    result = cli("monitoring", "render", "--repo", str(model_repo), "--env", "prod")
    assert result.code == 1
    assert result.stderr.splitlines()[0] == f"error: Not found: no environment 'prod' in {model_repo / 'environments'}"
