"""The dashboard shows a shadow's agreement check from the same DeploymentHealth as ``status``: a
shadow trained on flipped labels makes the model CRIT with the agreement reason (live health by the
default direct scrape of a real ``mlopsctl serve``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.dashboard import SIZE, make_app
from tests.support.predlog import post_json
from tests.support.serving import records_of
from tests.support.shadow import flipped_shadow_served

pytestmark = pytest.mark.slow

ROWS = 40


async def settle(app: Any, pilot: Any) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def test_the_dashboard_marks_a_disagreeing_shadow_crit_with_its_agreement(model_repo: Path) -> None:
    with flipped_shadow_served(model_repo, "staging") as (url, stable, shadow):
        frame = stable.frame.iloc[:ROWS]
        for row in records_of(frame):
            assert post_json(url, "/predict", {"record": row})[0] == 200
        share = np.count_nonzero(stable.pipeline.predict(frame) == shadow.pipeline.predict(frame)) / ROWS
        app = make_app(model_repo, fetch_health=None)  # live health: a direct scrape of the running service
        async with app.run_test(size=SIZE) as pilot:
            app.refresh_health()
            await settle(app, pilot)
            report = app.state.report
            assert report is not None
            shadow_health = next(d for d in report.deployments if d.role == "shadow")
            check = next(c for c in shadow_health.checks if c.name == "agreement")
            reason = f"shadow v2 agrees with v1 on {share:.1%} of {ROWS} rows over 2m < 90.0%; "
            assert check.reason.startswith(reason)
            row = app.state.overview.models["churn"]
            assert row.state == "CRIT"
            assert f"staging v2: {check.reason}" in row.reasons
