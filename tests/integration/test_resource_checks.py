"""CPU and memory thresholds (issue 13, item 5): judged by ``status``, rendered as alerts.

The real prediction service (``mlopsctl serve``) reports its own CPU and resident memory; a spec
whose ``monitoring.memory_bytes`` warn is tiny makes ``status`` WARN naming memory (exit 0, WARN
does not fail), and ``monitoring render`` writes CPU and memory alerts that promtool accepts and
fires on series past the thresholds.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli_process
from tests.support.serve_process import read_json_object, register, start_serve
from tests.support.services import free_port, require_prometheus
from tests.support.serving import churn_fitted
from tests.support.status_repo import set_environment, set_monitoring

pytestmark = [pytest.mark.slow]

ENV = "staging"
TINY = {"warn": 1_000_000, "crit": 1_000_000_000_000}


@pytest.fixture
def served(model_repo: Path) -> Iterator[Path]:
    version = register(model_repo, churn_fitted())
    set_monitoring(model_repo, memory_bytes=TINY, cpu_cores={"warn": 64, "crit": 128})
    port = free_port()
    set_environment(model_repo, ENV, {"churn": {"version": version, "port": port}})
    process = start_serve(model_repo, f"churn@{version}", port)
    try:
        read_json_object(process)
        yield model_repo
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def test_tiny_memory_threshold_warns_naming_memory(served: Path) -> None:
    result = run_cli_process("status", "--repo", str(served), "--env", ENV)
    assert result.code == 0, result.stdout + result.stderr
    line = result.stdout.splitlines()[1]
    assert re.match(r"WARN    staging/churn@1 \(stable\)  memory \d+\.\d MiB > 1\.0 MiB resident", line), line
    payload = json.loads(run_cli_process("status", "--repo", str(served), "--env", ENV, "-o", "json").stdout)
    (deployment,) = payload["deployments"]
    checks = {check["name"]: check for check in deployment["checks"]}
    assert checks["memory"]["state"] == "WARN"
    assert checks["memory"]["value"] == deployment["values"]["memory_bytes"] > 1_000_000
    assert checks["cpu"]["state"] == "OK"
    assert re.fullmatch(r"CPU \d+\.\d\d cores over \d+[sm] of 1h", checks["cpu"]["reason"])
    assert deployment["reasons"][0] == checks["memory"]["reason"]  # worst first: WARN before UNKNOWN drift


def rendered_rules(root: Path) -> dict[str, object]:
    result = run_cli_process("monitoring", "render", "--repo", str(root), "--env", ENV, "-o", "json")
    assert result.code == 0, result.stderr
    (rendered,) = json.loads(result.stdout)["rendered"]
    assert rendered["promtool"] == "checked: promtool check config, promtool check rules"
    loaded: dict[str, object] = yaml.safe_load((Path(rendered["folder"]) / "rules.yml").read_text())
    return loaded


@pytest.mark.prometheus
def test_rendered_rules_alert_on_cpu_and_memory(model_repo: Path, tmp_path: Path) -> None:
    require_prometheus()
    set_monitoring(model_repo, memory_bytes=TINY, cpu_cores={"warn": 0.5, "crit": 0.9})
    set_environment(model_repo, ENV, {"churn": {"version": 1, "port": 8100}})
    rules = rendered_rules(model_repo)
    alerts = {(r["alert"], r["labels"]["severity"]): r for g in rules["groups"] for r in g["rules"] if "alert" in r}  # type: ignore[index, union-attr]
    assert alerts[("MlopsHighMemory", "warning")]["expr"] == (
        'max by (env, instance) (process_resident_memory_bytes{env="staging",service="churn"}) >= 1000000.0'
    )
    assert alerts[("MlopsHighCpu", "critical")]["expr"] == (
        'max by (env, instance) (rate(process_cpu_seconds_total{env="staging",service="churn"}[5m])) >= 0.9'
    )
    fired = promtool_test(model_repo / "monitoring" / ENV, tmp_path)
    assert fired.returncode == 0, fired.stdout + fired.stderr


def promtool_test(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """200 MiB resident and 0.7 cores for 10 minutes: memory WARN and CPU WARN fire, CPU CRIT does not."""
    labels = '{env="staging",service="churn",instance="127.0.0.1:8100",job="mlopsctl-staging"}'
    test = {
        "rule_files": [str(folder / "rules.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"process_resident_memory_bytes{labels}", "values": "209715200x10"},
                    {"series": f"process_cpu_seconds_total{labels}", "values": "0+42x10"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "MlopsHighMemory",
                        "exp_alerts": [
                            _fired("resident memory of churn at 127.0.0.1:8100 in staging: 200MiB >= 1000000 bytes")
                        ],
                    },
                    {
                        "eval_time": "10m",
                        "alertname": "MlopsHighCpu",
                        "exp_alerts": [_fired("CPU of churn at 127.0.0.1:8100 in staging: 0.70 cores >= 0.5")],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "resources_test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def _fired(summary: str) -> dict[str, object]:
    return {
        "exp_labels": {"severity": "warning", "env": "staging", "instance": "127.0.0.1:8100"},
        "exp_annotations": {"summary": summary},
    }
