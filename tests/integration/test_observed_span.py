"""Live rates over the span actually observed (issue 13, item 2), from a real Prometheus and direct scrape.

The real service (``mlopsctl serve``) lives for seconds of the spec's 1 h window. Its request rate
must be the requests divided by the seconds observed, not by the hour (which gave 0.1/s for a
service answering 10/s), and ``status`` says the span is shorter than the window. Nothing here is
timed: the bound is the wall time the test itself measured around the service's whole life.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.monitor.render import render_environment, write_rendered
from mlopsctl.spec.loader import open_repo
from tests.support.rendered_prometheus import RenderedPrometheus
from tests.support.serve_process import read_json_object, register, start_serve
from tests.support.services import free_port, require_prometheus
from tests.support.serving import Client, churn_fitted, records_of
from tests.support.status_repo import set_environment

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

ENV = "staging"
REQUESTS = 60
SPAN = re.compile(r"over \d+[sm] of 1h")
START_GRAIN = 2.0
"""The service's start time comes from /proc, whose boot time has whole seconds."""


@dataclass
class Young:
    root: Path
    started: float
    prometheus: RenderedPrometheus


@pytest.fixture
def young(model_repo: Path, tmp_path: Path) -> Iterator[Young]:
    """A service that sent REQUESTS predictions and exists since ``started`` (1 h window)."""
    require_prometheus()
    fit = churn_fitted()
    version = register(model_repo, fit)
    port = free_port()
    set_environment(model_repo, ENV, {"churn": {"version": version, "port": port}})
    started = time.time()
    process = start_serve(model_repo, f"churn@{version}", port)
    try:
        client = Client(read_json_object(process)["url"])
        folder = tmp_path / "monitoring"
        write_rendered(render_environment(open_repo(model_repo), ENV, scrape_interval="1s"), folder)
        with RenderedPrometheus(folder) as prometheus:
            prometheus.wait_for(f'up{{env="{ENV}",instance="127.0.0.1:{port}"}} == 1', timeout=30)
            rows = records_of(fit.frame.head(5))
            _predict(client, rows)  # Prometheus sees the counter before the rest, so it counts them
            prometheus.wait_for('sum(mlops_requests_total{route="/predict"}) >= 1', timeout=30)
            for _ in range(REQUESTS - 1):
                _predict(client, rows)
            prometheus.wait_for(f'sum(mlops_requests_total{{route="/predict"}}) >= {REQUESTS}', timeout=30)
            yield Young(model_repo, started, prometheus)
            client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def _predict(client: Client, rows: list[dict[str, Any]]) -> None:
    status, _, body = client.post("/predict", {"records": rows})
    assert status == 200, body


def status(root: Path, monkeypatch: pytest.MonkeyPatch, cli: Any, url: str | None) -> dict[str, Any]:
    if url is None:
        monkeypatch.delenv("MLOPS_PROMETHEUS_URL", raising=False)
    else:
        monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    result = cli("status", "--repo", str(root), "--env", ENV, "-o", "json")
    assert result.stderr == ""
    (deployment,) = json.loads(result.stdout)["deployments"]
    return dict(deployment)


def assert_rate_over_observed_span(deployment: dict[str, Any], lived: float, counted: float) -> None:
    values, observed = deployment["values"], deployment["observed_seconds"]
    lived += START_GRAIN
    assert deployment["window"] == "1h" and deployment["window_seconds"] == 3600
    assert 0 < observed <= lived, (observed, lived)
    assert SPAN.fullmatch(deployment["over"]), deployment["over"]
    assert values["requests"] >= counted
    assert values["request_rate"] == pytest.approx(values["requests"] / observed)
    assert values["request_rate"] >= counted / lived  # over the hour it would be counted / 3600


def test_prometheus_rate_is_over_the_span_observed(cli: Any, young: Young, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = status(young.root, monkeypatch, cli, young.prometheus.url)
    lived = time.time() - young.started
    # Prometheus' increase starts at its first sample of the counter (1 request), extrapolating a little
    assert_rate_over_observed_span(deployment, lived, (REQUESTS - 1) * 0.9)


def test_direct_scrape_rate_is_over_the_service_life(cli: Any, young: Young, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = status(young.root, monkeypatch, cli, None)
    lived = time.time() - young.started
    assert deployment["values"]["requests"] == REQUESTS
    assert_rate_over_observed_span(deployment, lived, REQUESTS)


def test_status_table_names_the_span(cli: Any, young: Young, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_PROMETHEUS_URL", raising=False)
    result = cli("status", "--repo", str(young.root), "--env", ENV)
    line = result.stdout.splitlines()[1]
    assert re.search(r"  \d+\.\d req/s over \d+[sm] of 1h$", line), line
