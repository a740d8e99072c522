"""``status`` on the REAL prediction service (``mlopsctl serve``) scraped by a real Prometheus.

A version is registered through the registry, served by ``mlopsctl serve`` as a process, and sent
bounded traffic over HTTP; Prometheus runs the rendered configuration and scrapes every second.
A shifted feature is CRIT while every other feature stays OK; traffic like the training data is
OK; the direct-scrape source gives the same feature verdicts. (The predictions themselves may
drift with a shifted input the model uses, so the prediction check is not asserted here; the
contract-shaped exporter tests pin it down.)
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlopsctl.monitor.render import render_environment, write_rendered
from mlopsctl.spec.loader import open_repo
from tests.support.rendered_prometheus import RenderedPrometheus
from tests.support.serve_process import read_json_object, register, start_serve
from tests.support.services import free_port, require_prometheus
from tests.support.serving import Client, Fitted, churn_fitted, records_of
from tests.support.status_repo import set_environment, set_monitoring

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

ENV = "staging"
ROWS = 1200
BATCH = 100


@dataclass
class Served:
    root: Path
    fit: Fitted
    client: Client
    prometheus: RenderedPrometheus


@pytest.fixture
def served(model_repo: Path, tmp_path: Path) -> Iterator[Served]:
    require_prometheus()
    fit = churn_fitted()
    version = register(model_repo, fit)
    set_monitoring(model_repo, window="2m", min_observations=300)
    port = free_port()
    set_environment(model_repo, ENV, {"churn": {"version": version, "port": port}})
    process = start_serve(model_repo, f"churn@{version}", port)
    try:
        info = read_json_object(process)
        folder = tmp_path / "monitoring"
        write_rendered(render_environment(open_repo(model_repo), ENV, scrape_interval="1s"), folder)
        with RenderedPrometheus(folder) as prometheus:
            prometheus.wait_for(f'up{{env="{ENV}",instance="127.0.0.1:{port}"}} == 1', timeout=30)
            client = Client(info["url"])
            yield Served(model_repo, fit, client, prometheus)
            client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def send(served: Served, frame: pd.DataFrame) -> None:
    for start in range(0, len(frame), BATCH):
        status, _, body = served.client.post("/predict", {"records": records_of(frame.iloc[start : start + BATCH])})
        assert status == 200, body


def scraped(served: Served, rows: int) -> None:
    served.prometheus.wait_for(f'sum(mlops_feature_bin_total{{feature="age"}}) >= {rows}', timeout=30)
    served.prometheus.wait_for(f'sum(mlops:feature_observations:increase{{feature="age"}}) >= {rows * 0.99}', 30)


def feature_states(
    cli: Any, served: Served, monkeypatch: pytest.MonkeyPatch, url: str | None
) -> tuple[int, dict[str, str]]:
    if url is None:
        monkeypatch.delenv("MLOPS_PROMETHEUS_URL", raising=False)
    else:
        monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    result = cli("status", "--repo", str(served.root), "--env", ENV, "-o", "json")
    assert result.stderr == ""
    (deployment,) = json.loads(result.stdout)["deployments"]
    checks = {c["name"]: c["state"] for c in deployment["checks"] if c["name"] != "prediction"}
    return result.code, checks


def test_real_service_shifted_feature_is_crit_alone(cli: Any, served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = served.fit.frame.sample(n=ROWS, replace=True, random_state=1).reset_index(drop=True)
    frame["age"] = frame["age"] + 40
    send(served, frame)
    scraped(served, ROWS)
    code, states = feature_states(cli, served, monkeypatch, served.prometheus.url)
    assert code == 1
    assert states.pop("feature:age") == "CRIT"
    assert set(states.values()) == {"OK"}, states
    scrape_code, scrape_states = feature_states(cli, served, monkeypatch, None)
    assert scrape_code == 1
    assert scrape_states.pop("feature:age") == "CRIT"
    assert scrape_states == states


def test_real_service_training_traffic_is_ok(cli: Any, served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = served.fit.frame.sample(n=ROWS, replace=True, random_state=2).reset_index(drop=True)
    send(served, frame)
    scraped(served, ROWS)
    code, states = feature_states(cli, served, monkeypatch, served.prometheus.url)
    assert (code, set(states.values())) == (0, {"OK"}), states
    scrape_code, scrape_states = feature_states(cli, served, monkeypatch, None)
    assert (scrape_code, scrape_states) == (code, states)
