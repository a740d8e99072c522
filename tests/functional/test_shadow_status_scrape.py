"""``mlopsctl status`` by the direct scrape (no Prometheus): a canary's agreement with the stable
version on the rows it answered, judged by monitoring.shadow, with latency and errors side by side."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.predlog import post_json
from tests.support.serving import records_of
from tests.support.shadow import flipped_shadow_served

pytestmark = pytest.mark.slow

ROWS = 80


def test_status_judges_a_canary_on_the_rows_it_answered(
    cli: Any, model_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_PROMETHEUS_URL", raising=False)
    with flipped_shadow_served(model_repo, "staging", strategy="canary") as (url, stable, canary):
        frame = stable.frame.iloc[:ROWS]
        answered_by = []
        for row in records_of(frame):
            status, headers, _ = post_json(url, "/predict", {"record": row})
            assert status == 200
            answered_by.append(headers["x-model-role"])
        result = cli("status", "--repo", str(model_repo), "--env", "staging", "-o", "json")
        table = cli("status", "--repo", str(model_repo), "--env", "staging")
    rows = frame[[role == "canary" for role in answered_by]]
    share = np.count_nonzero(stable.pipeline.predict(rows) == canary.pipeline.predict(rows)) / len(rows)
    assert 20 <= len(rows) < ROWS  # the seeded draw gave the canary about half, above min_observations
    assert result.code == 1, result.stderr  # CRIT
    deployments = json.loads(result.stdout)["deployments"]
    health = next(d for d in deployments if d["role"] == "canary")
    check = next(c for c in health["checks"] if c["name"] == "agreement")
    shown = f"canary v2 agrees with v1 on {share:.1%} of {len(rows)} rows over 2m < 90.0%"
    assert re.fullmatch(re.escape(shown) + r"; p95 \d+\.\d ms vs \d+\.\d ms; errors 0\.00% vs 0\.00%", check["reason"])
    assert (check["state"], health["values"]["compared_rows"], health["values"]["stable_error_rate"]) == (
        "CRIT",
        len(rows),
        0.0,
    )
    assert shown in " ".join(table.stdout.split())  # the table wraps the reason
