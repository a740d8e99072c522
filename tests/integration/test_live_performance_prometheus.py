"""Live accuracy from labels through a real Prometheus: ``mlopsctl serve`` logs answers, labels are
posted, Prometheus scrapes the live metric, ``status`` judges it from Prometheus as from the direct
scrape, and the rendered MlopsLivePerformance alert goes pending on the real series."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.monitor.render import render_environment, write_rendered
from mlopsctl.spec.loader import open_repo
from tests.support.predlog import post_json
from tests.support.rendered_prometheus import RenderedPrometheus
from tests.support.serve_process import read_json_object, register, start_serve
from tests.support.services import free_port, require_prometheus
from tests.support.serving import Fitted, churn_fitted, records_of
from tests.support.status_repo import set_environment, set_monitoring

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

ENV = "staging"


@dataclass
class Served:
    root: Path
    fit: Fitted
    url: str
    prometheus: RenderedPrometheus


@pytest.fixture
def served(model_repo: Path, tmp_path: Path) -> Iterator[Served]:
    require_prometheus()
    fit = churn_fitted()
    register(model_repo, fit)
    performance = {"metric": "accuracy", "warn_below": 0.9, "crit_below": 0.75}
    set_monitoring(model_repo, window="2m", min_observations=20, performance=performance)
    port = free_port()
    set_environment(model_repo, ENV, {"churn": {"version": 1, "port": port}})
    process = start_serve(model_repo, "churn@1", port)
    try:
        info = read_json_object(process)
        folder = tmp_path / "monitoring"
        write_rendered(render_environment(open_repo(model_repo), ENV, scrape_interval="1s"), folder)
        with RenderedPrometheus(folder) as prometheus:
            prometheus.wait_for(f'up{{env="{ENV}",instance="127.0.0.1:{port}"}} == 1', timeout=30)
            yield Served(model_repo, fit, info["url"], prometheus)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def performance(cli: Any, served: Served, monkeypatch: pytest.MonkeyPatch, url: str | None) -> dict[str, Any]:
    if url is None:
        monkeypatch.delenv("MLOPS_PROMETHEUS_URL", raising=False)
    else:
        monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    result = cli("status", "--repo", str(served.root), "--env", ENV, "-o", "json")
    assert result.stderr == ""
    (deployment,) = json.loads(result.stdout)["deployments"]
    found: dict[str, Any] = next(c for c in deployment["checks"] if c["name"] == "performance")
    return found


def test_live_accuracy_falls_in_prometheus_status_and_the_alert(
    cli: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = []
    for index, row in enumerate(records_of(served.fit.frame.iloc[:40])):
        status, headers, body = post_json(served.url, "/predict", {"record": row})
        assert status == 200
        predicted = body["predictions"][0]
        labels.append({"id": headers["x-request-id"], "label": predicted if index % 2 else 1 - predicted})
    assert post_json(served.url, "/feedback", {"labels": labels})[0] == 200
    served.prometheus.wait_for('mlops_live_labels{env="staging",model="churn",metric="accuracy"} >= 40', timeout=30)

    check = performance(cli, served, monkeypatch, served.prometheus.url)
    assert (check["state"], check["value"]) == ("CRIT", 0.5)
    assert check["reason"] == "live accuracy 0.500 from 40 labels over 2m < 0.75"
    assert performance(cli, served, monkeypatch, None) == check

    pending = 'ALERTS{alertname="MlopsLivePerformance",alertstate="pending",severity="critical",metric="accuracy"}'
    served.prometheus.wait_for(f"{pending} == 1", timeout=30)
