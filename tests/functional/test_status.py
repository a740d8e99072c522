"""``mlopsctl status`` end to end with the direct-scrape source against a contract-shaped service."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.support.services import free_port
from tests.support.status_repo import (
    ContractExporter,
    make_reference,
    send_traffic,
    serving,
    set_environment,
    set_monitoring,
    shifted,
    training_data,
    write_record,
)


@dataclass
class Live:
    root: Path
    exporter: ContractExporter
    data: pd.DataFrame
    port: int


@pytest.fixture
def live(model_repo: Path) -> Iterator[Live]:
    """churn@1 registered and 'served' in staging by the exporter; a 10m window, 300 observations minimum."""
    data = training_data(model_repo)
    reference = make_reference(data)
    write_record(model_repo, "churn", 1, reference)
    set_monitoring(model_repo, window="10m", min_observations=300)
    exporter = ContractExporter("churn", {(1, "stable"): reference})
    with serving(exporter) as port:
        set_environment(model_repo, "staging", {"churn": {"version": 1, "port": port}})
        yield Live(model_repo, exporter, data, port)


def status_json(cli: Any, root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("status", "--repo", str(root), "--env", "staging", "-o", "json", *args)
    assert result.stderr == ""
    return result.code, json.loads(result.stdout)


def checks(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (deployment,) = payload["deployments"]
    return {check["name"]: check for check in deployment["checks"]}


def test_training_traffic_is_ok(cli: Any, live: Live) -> None:
    send_traffic(live.exporter, live.data, 2000)
    result = cli("status", "--repo", str(live.root), "--env", "staging")
    assert result.code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "source: direct scrape of 1 service(s)"
    assert lines[1].startswith("OK      staging/churn@1 (stable)  all 12 checks ok  ")


def test_shifted_feature_is_crit_alone(cli: Any, live: Live) -> None:
    send_traffic(live.exporter, shifted(live.data, "age", 40), 2000)
    code, payload = status_json(cli, live.root)
    assert code == 1
    found = checks(payload)
    assert found["feature:age"]["state"] == "CRIT"
    assert re.fullmatch(r"feature `age` PSI \d+\.\d\d > 0\.25 over 10m", found["feature:age"]["reason"])
    others = {name: check["state"] for name, check in found.items() if name != "feature:age"}
    assert set(others.values()) == {"OK"}, others
    assert payload["deployments"][0]["reasons"] == [found["feature:age"]["reason"]]


def test_status_table_names_the_drifting_feature(cli: Any, live: Live) -> None:
    send_traffic(live.exporter, shifted(live.data, "monthly_charges", 200), 1000)
    result = cli("status", "--repo", str(live.root))
    assert result.code == 1
    line = result.stdout.splitlines()[1]
    assert re.fullmatch(
        r"CRIT    staging/churn@1 \(stable\)  feature `monthly_charges` PSI \d+\.\d\d > 0\.25 over 10m"
        r"  \d+\.\d+ req/s over \d+[sm]( of 10m)?",
        line,
    )


def test_below_min_observations_is_not_judged(cli: Any, live: Live) -> None:
    send_traffic(live.exporter, shifted(live.data, "age", 40), 100)
    code, payload = status_json(cli, live.root)
    assert code == 0
    found = checks(payload)
    assert found["feature:age"]["state"] == "UNKNOWN"
    assert found["feature:age"]["reason"] == "feature `age`: not enough data (100 < 300) over 10m"
    # the PSI of 100 rows is computed and shown, but too noisy to judge
    assert found["feature:age"]["value"] > 0.25


def test_no_traffic_is_zero_over_zero_not_an_error(cli: Any, live: Live) -> None:
    code, payload = status_json(cli, live.root)
    assert code == 0
    found = checks(payload)
    assert found["error_rate"] == {
        "name": "error_rate",
        "area": "infrastructure",
        "state": "OK",
        "value": None,
        "reason": "no requests over 10m",
    }
    assert found["feature:age"]["reason"] == "feature `age`: not enough data (0 < 300) over 10m"
    assert found["p95_latency"]["reason"] == "no latency samples over 10m"


def test_error_rate_and_latency_are_judged(cli: Any, live: Live) -> None:
    rows = live.data.iloc[:10]
    for number in range(100):
        live.exporter.observe(rows, 1, code="500" if number < 10 else "200", seconds=0.3)
    code, payload = status_json(cli, live.root)
    assert code == 1
    found = checks(payload)
    assert found["error_rate"]["reason"] == "error rate 10.0% > 5.0% over 10m"
    assert found["error_rate"]["state"] == "CRIT"
    # every request took 0.3 s: inside the (0.25, 0.5] bucket, p95 interpolates to 487.5 ms
    assert found["p95_latency"]["reason"] == "p95 latency 487.5 > 200 ms over 10m"
    values = payload["deployments"][0]["values"]
    assert values["requests"] == 100
    assert values["p50_latency_ms"] == pytest.approx(375.0)


def test_a_restart_does_not_look_like_a_drop(live: Live) -> None:
    from mlopsctl.monitor.health import collect_health
    from mlopsctl.monitor.sources import ScrapeSource
    from mlopsctl.monitor.targets import deployment_endpoints
    from mlopsctl.spec.loader import open_repo

    repo = open_repo(live.root)
    source = ScrapeSource(deployment_endpoints(repo, "staging"))
    send_traffic(live.exporter, live.data, 400, seed=1)
    first = collect_health(repo, "staging", source=source).deployments[0]
    assert first.values["requests"] == 8
    live.exporter.restart()
    send_traffic(live.exporter, live.data, 250, seed=2)
    second = collect_health(repo, "staging", source=source).deployments[0]
    # 8 requests before the restart and 5 after it: the counter reset is counted from zero again
    assert second.values["requests"] == 13
    age = next(f for f in second.features if f.feature == "age")
    assert age.observations == 650


def test_service_down(cli: Any, model_repo: Path) -> None:
    port = free_port()
    write_record(model_repo, "churn", 1, make_reference(training_data(model_repo)))
    set_environment(model_repo, "staging", {"churn": {"version": 1, "port": port}})
    result = cli("status", "--repo", str(model_repo), "--env", "staging")
    assert result.code == 1
    assert result.stdout.splitlines()[1].startswith(
        f"CRIT    staging/churn@1 (stable)  service down at 127.0.0.1:{port}: connection refused"
    )


def test_missing_record_is_unknown_not_crit(cli: Any, live: Live) -> None:
    set_environment(live.root, "staging", {"churn": {"version": 2, "port": live.port}})
    code, payload = status_json(cli, live.root)
    assert code == 0
    assert checks(payload)["drift"]["reason"] == "no registry record for churn@2: drift not judged"
    assert payload["deployments"][0]["state"] == "UNKNOWN"


def test_canary_roles_are_judged_apart(cli: Any, live: Live) -> None:
    reference = make_reference(live.data)
    write_record(live.root, "churn", 2, reference)
    exporter = ContractExporter("churn", {(1, "stable"): reference, (2, "canary"): reference})
    send_traffic(exporter, live.data, 1000)
    for start in range(0, 1000, 50):
        exporter.observe(shifted(live.data, "age", 40).iloc[start : start + 50], 2, "canary", ["0"] * 40 + ["1"] * 10)
    with serving(exporter) as port:
        env = {"churn": {"version": 1, "candidate": 2, "strategy": "canary", "weight": 20, "port": port}}
        set_environment(live.root, "staging", env)
        result = cli("status", "--repo", str(live.root), "--env", "staging")
    assert result.code == 1
    lines = result.stdout.splitlines()[1:]
    assert lines[0].startswith("OK      staging/churn@1 (stable)  all 12 checks ok  ")
    assert re.fullmatch(
        r"CRIT    staging/churn@2 \(canary\)  feature `age` PSI \d+\.\d\d > 0\.25 over 10m"
        r"  \d+\.\d+ req/s over \d+[sm]( of 10m)?",
        lines[1],
    )


def test_unreachable_prometheus_exits_3(cli: Any, live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    result = cli("status", "--repo", str(live.root))
    assert result.code == 3
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: Prometheus unreachable: cannot reach Prometheus at {url}: connection refused",
        "hint: start Prometheus or fix prometheus.url in ~/.config/mlopsctl/config.yaml (or MLOPS_PROMETHEUS_URL); "
        "leave it empty to scrape the services directly",
    ]


def test_bad_window_is_a_usage_error(cli: Any, live: Live) -> None:
    result = cli("status", "--repo", str(live.root), "--window", "soon")
    assert result.code == 2
    assert result.stderr.splitlines()[0] == "error: Usage error: --window 'soon' is not a duration"


def test_unknown_environment(cli: Any, live: Live) -> None:
    result = cli("status", "--repo", str(live.root), "--env", "stagin")
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Not found: no environment 'stagin' in {live.root / 'environments'}",
        "hint: did you mean 'staging'?",
    ]


def test_password_variable_must_be_set(cli: Any, live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MLOPS_ALLOW_INSECURE_LOOPBACK", "1")
    monkeypatch.setenv("MLOPS_PROMETHEUS_USERNAME", "ops")
    monkeypatch.setenv("MLOPS_PROMETHEUS_PASSWORD_ENV", "PROM_PASSWORD")
    result = cli("status", "--repo", str(live.root))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "error: Usage error: the environment variable PROM_PASSWORD named by prometheus.password_env in "
        "~/.config/mlopsctl/config.yaml (or MLOPS_PROMETHEUS_PASSWORD_ENV) is not set",
        "hint: export PROM_PASSWORD=... before running mlopsctl",
    ]
