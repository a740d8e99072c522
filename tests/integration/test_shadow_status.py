"""Shadow agreement in ``mlopsctl status`` from a real Prometheus (and the direct scrape): a shadow
trained on flipped labels, served by ``mlopsctl serve`` beside the stable version, is judged CRIT
with the share of rows, its p95 and error rate next to the stable version's; the rendered
MlopsCandidateAgreement alert goes pending on the real series."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlopsctl.monitor.render import render_environment, write_rendered
from mlopsctl.spec.loader import open_repo
from tests.support.predlog import post_json
from tests.support.rendered_prometheus import RenderedPrometheus
from tests.support.services import require_prometheus
from tests.support.serving import Fitted, records_of
from tests.support.shadow import flipped_shadow_served

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

ENV = "staging"
ROWS = 60


@dataclass
class Served:
    root: Path
    stable: Fitted
    shadow: Fitted
    url: str
    prometheus: RenderedPrometheus


@pytest.fixture
def served(model_repo: Path, tmp_path: Path) -> Iterator[Served]:
    require_prometheus()
    with flipped_shadow_served(model_repo, ENV) as (url, stable, shadow):
        folder = tmp_path / "monitoring"
        write_rendered(render_environment(open_repo(model_repo), ENV, scrape_interval="1s"), folder)
        with RenderedPrometheus(folder) as prometheus:
            instance = url.removeprefix("http://")
            prometheus.wait_for(f'up{{env="{ENV}",instance="{instance}"}} == 1', timeout=30)
            yield Served(model_repo, stable, shadow, url, prometheus)


def shadow_health(cli: Any, served: Served, monkeypatch: pytest.MonkeyPatch, url: str | None) -> dict[str, Any]:
    if url is None:
        monkeypatch.delenv("MLOPS_PROMETHEUS_URL", raising=False)
    else:
        monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    result = cli("status", "--repo", str(served.root), "--env", ENV, "-o", "json")
    assert result.stderr == ""
    deployments = json.loads(result.stdout)["deployments"]
    assert [(d["version"], d["role"]) for d in deployments] == [(1, "stable"), (2, "shadow")]
    assert not any(c["name"] == "agreement" for c in deployments[0]["checks"])  # the stable one has none
    found: dict[str, Any] = deployments[1]
    return found


def test_status_judges_a_disagreeing_shadow_from_prometheus_and_the_alert_fires(
    cli: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = served.stable.frame.iloc[:ROWS]
    for row in records_of(frame):
        assert post_json(served.url, "/predict", {"record": row})[0] == 200
    agreed = int(np.count_nonzero(served.stable.pipeline.predict(frame) == served.shadow.pipeline.predict(frame)))
    share = agreed / ROWS
    selector = f'env="{ENV}",model="churn",version="2",role="shadow",stable_version="1"'
    served.prometheus.wait_for(f"mlops_compared_rows_total{{{selector}}} >= {ROWS}", timeout=30)
    served.prometheus.wait_for(f"mlops_agreed_rows_total{{{selector}}} >= {agreed}", timeout=30)

    scraped = shadow_health(cli, served, monkeypatch, None)
    check = next(c for c in scraped["checks"] if c["name"] == "agreement")
    assert (check["state"], check["area"], check["value"]) == ("CRIT", "statistics", pytest.approx(share))
    assert re.fullmatch(
        rf"shadow v2 agrees with v1 on {share:.1%} of {ROWS} rows over 2m < 90\.0%; "
        r"p95 \d+\.\d ms vs \d+\.\d ms; errors 0\.00% vs 0\.00%",
        check["reason"],
    ), check["reason"]
    values = scraped["values"]
    assert (values["compared_rows"], values["agreed_rows"], values["stable_version"]) == (ROWS, agreed, 1)
    assert (values["error_rate"], values["stable_error_rate"]) == (0.0, 0.0)
    assert values["p95_latency_ms"] > 0 and values["stable_p95_latency_ms"] > 0

    from_prometheus = shadow_health(cli, served, monkeypatch, served.prometheus.url)
    check = next(c for c in from_prometheus["checks"] if c["name"] == "agreement")
    assert (check["state"], check["value"]) == ("CRIT", pytest.approx(share))  # increase() extrapolates both alike
    assert check["reason"].startswith(f"shadow v2 agrees with v1 on {share:.1%} of ")
    assert from_prometheus["values"]["agreement"] == pytest.approx(share)

    pending = 'ALERTS{alertname="MlopsCandidateAgreement",alertstate="pending",severity="critical",role="shadow"}'
    served.prometheus.wait_for(f"{pending} == 1", timeout=30)


def test_too_few_rows_are_not_judged(cli: Any, served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    for row in records_of(served.stable.frame.iloc[:5]):
        assert post_json(served.url, "/predict", {"record": row})[0] == 200
    found = shadow_health(cli, served, monkeypatch, None)
    check = next(c for c in found["checks"] if c["name"] == "agreement")
    assert check["state"] == "UNKNOWN"
    assert check["reason"].startswith("shadow v2 vs v1: not enough rows compared (5 < 20) over 2m; p95 ")
