"""``retrain --check`` judged from a real Prometheus: labels that disagree with the answers make live
accuracy CRIT in the scraped series, and the performance trigger fires from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.monitor.render import render_environment, write_rendered
from mlopsctl.spec.loader import open_repo
from tests.support.predlog import wait_logged
from tests.support.rendered_prometheus import RenderedPrometheus
from tests.support.retrain_repo import ask, send_labels, served_v1, source_rows
from tests.support.services import require_prometheus

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def test_the_performance_trigger_fires_from_prometheus(
    cli: Any, model_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_prometheus()
    with served_v1(cli, model_repo, tmp_path / "remotes") as served:
        folder = tmp_path / "monitoring"
        write_rendered(render_environment(open_repo(served.root), "staging", scrape_interval="1s"), folder)
        with RenderedPrometheus(folder) as prometheus:
            answers = ask(served, source_rows(served.root).iloc[:25], "wrong")
            wait_logged(served.root / ".mlops" / "predictions" / "serve" / "churn", {i for i, _ in answers})
            send_labels(served, [(request_id, 1 - label) for request_id, label in answers])
            prometheus.wait_for('mlops_live_labels{env="staging",model="churn",metric="accuracy"} >= 25', timeout=30)
            monkeypatch.setenv("MLOPS_PROMETHEUS_URL", prometheus.url)
            result = cli("retrain", "churn", "--check", "--repo", str(served.root), "-o", "json")
    assert result.code == 1, result.stderr
    found = json.loads(result.stdout)
    reasons = {t["name"]: (t["fired"], t["reason"]) for t in found["triggers"]}
    assert reasons["performance"] == (True, "CRIT: live accuracy 0.000 from 25 labels over 10m < 0.75")
    assert "performance" in found["fired"]
