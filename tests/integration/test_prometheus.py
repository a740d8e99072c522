"""``status`` and ``drift`` against a REAL Prometheus that scrapes a service every second.

The service is the contract-shaped exporter of ``tests/functional/test_status_support.py`` (it
bins rows with the same functions as ``mlopsctl serve``). Prometheus runs with the configuration
and rules that ``mlopsctl monitoring render`` writes, so the test also proves that config works.
Windows are short (the spec's ``monitoring.window`` is set to 2m) and every wait is bounded.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlopsctl.monitor.render import render_environment, write_rendered
from mlopsctl.spec.loader import open_repo
from tests.support.rendered_prometheus import RenderedPrometheus
from tests.support.services import PrometheusServer, require_prometheus
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

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

ENV = "staging"
ROWS = 2000


@dataclass
class Setup:
    root: Path
    exporter: ContractExporter
    data: pd.DataFrame
    prometheus: RenderedPrometheus


@pytest.fixture
def setup(model_repo: Path, tmp_path: Path) -> Iterator[Setup]:
    require_prometheus()
    data = training_data(model_repo)
    reference = make_reference(data)
    write_record(model_repo, "churn", 1, reference)
    set_monitoring(model_repo, window="2m", min_observations=300)
    exporter = ContractExporter("churn", {(1, "stable"): reference})
    with serving(exporter) as port:
        set_environment(model_repo, ENV, {"churn": {"version": 1, "port": port}})
        folder = tmp_path / "monitoring"
        write_rendered(render_environment(open_repo(model_repo), ENV, scrape_interval="1s"), folder)
        with RenderedPrometheus(folder) as prometheus:
            prometheus.wait_for(f'up{{env="{ENV}",instance="127.0.0.1:{port}"}} == 1', timeout=30)
            yield Setup(model_repo, exporter, data, prometheus)


def scraped(setup: Setup, rows: int) -> None:
    """Wait (bounded) until Prometheus holds every row sent, and the rules have run on it."""
    setup.prometheus.wait_for(f'sum(mlops_feature_bin_total{{feature="age"}}) >= {rows}', timeout=30)
    setup.prometheus.wait_for(f'mlops:feature_observations:increase{{feature="age"}} >= {rows * 0.99}', timeout=30)


def status(cli: Any, root: Path, monkeypatch: pytest.MonkeyPatch, url: str | None) -> tuple[int, dict[str, Any]]:
    if url is None:
        monkeypatch.delenv("MLOPS_PROMETHEUS_URL", raising=False)
    else:
        monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    result = cli("status", "--repo", str(root), "--env", ENV, "-o", "json")
    assert result.stderr == ""
    return result.code, json.loads(result.stdout)


def states(payload: dict[str, Any]) -> dict[str, str]:
    (deployment,) = payload["deployments"]
    return {check["name"]: check["state"] for check in deployment["checks"]}


def test_one_shifted_feature_is_crit_alone(cli: Any, setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    send_traffic(setup.exporter, shifted(setup.data, "age", 40), ROWS)
    scraped(setup, ROWS)
    code, payload = status(cli, setup.root, monkeypatch, setup.prometheus.url)
    assert payload["source"] == f"Prometheus at {setup.prometheus.url}"
    assert code == 1
    found = states(payload)
    assert found.pop("feature:age") == "CRIT"
    assert set(found.values()) == {"OK"}, found
    (deployment,) = payload["deployments"]
    assert len(deployment["reasons"]) == 1
    assert deployment["reasons"][0].startswith("feature `age` PSI ")
    assert deployment["reasons"][0].endswith(" > 0.25 over 2m")

    # The recording rule (PSI in PromQL) gives the number status computed in Python.
    (recorded,) = setup.prometheus.query('mlops:feature_psi{feature="age"}')
    age = next(c for c in deployment["checks"] if c["name"] == "feature:age")
    assert float(recorded["value"][1]) == pytest.approx(age["value"], rel=1e-6)

    # The direct-scrape source gives the same verdicts on the same traffic.
    scrape_code, scrape_payload = status(cli, setup.root, monkeypatch, None)
    assert scrape_payload["source"] == "direct scrape of 1 service(s)"
    assert (scrape_code, states(scrape_payload)) == (code, states(payload))


def test_training_traffic_is_ok(cli: Any, setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    send_traffic(setup.exporter, setup.data, ROWS, seed=5)
    scraped(setup, ROWS)
    code, payload = status(cli, setup.root, monkeypatch, setup.prometheus.url)
    assert code == 0, payload["deployments"][0]["reasons"]
    assert set(states(payload).values()) == {"OK"}
    scrape_code, scrape_payload = status(cli, setup.root, monkeypatch, None)
    assert (scrape_code, states(scrape_payload)) == (0, states(payload))


def test_live_drift_table_from_prometheus(cli: Any, setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    send_traffic(setup.exporter, shifted(setup.data, "tenure_months", 60), ROWS)
    scraped(setup, ROWS)
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", setup.prometheus.url)
    result = cli("drift", "churn", "--repo", str(setup.root), "--env", ENV, "--window", "1m", "-o", "json")
    assert result.code == 1, result.stderr
    (deployment,) = json.loads(result.stdout)["deployments"]
    assert deployment["window"] == "1m"
    verdicts = {f["feature"]: f["state"] for f in deployment["features"]}
    assert verdicts.pop("tenure_months") == "CRIT"
    assert set(verdicts.values()) == {"OK"}


def test_stopped_prometheus_exits_3(cli: Any, setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    url = setup.prometheus.url
    setup.prometheus.stop()
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    result = cli("status", "--repo", str(setup.root))
    assert result.code == 3
    assert result.stdout == ""
    assert (
        result.stderr.splitlines()[0]
        == f"error: Prometheus unreachable: cannot reach Prometheus at {url}: connection refused"
    )
    assert "Traceback" not in result.stderr


def query_requests(prometheus: PrometheusServer) -> float:
    """How many /api/v1/query requests Prometheus has served, read from its own /metrics."""
    with urllib.request.urlopen(prometheus.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/query"' in line
    )


def test_queries_are_batched(cli: Any, setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", setup.prometheus.url)
    counts = {}
    for size in (5, 50):
        set_environment(setup.root, ENV, {f"model-{i}": {"version": 1} for i in range(size)})
        before = query_requests(setup.prometheus)
        result = cli("status", "--repo", str(setup.root), "--env", ENV, "-o", "json")
        assert len(json.loads(result.stdout)["deployments"]) == size
        counts[size] = query_requests(setup.prometheus) - before
    assert (
        counts[5] == counts[50] == 13
    )  # one query per figure (live performance and its labels included), not per deployment
