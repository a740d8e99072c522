"""The Environments view takes "in sync" from the plan, as ``mlopsctl plan`` says it (issue 13, item 3).

A real ``apply`` starts a 20% canary as a local process; the dashboard reads live health from it
(the default source, a direct scrape) and computes the plan in a worker. Both faces must then
agree: in sync right after apply, and the same change once Git asks for another weight.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from mlopsctl.tui.app import MlopsApp
from mlopsctl.tui.views import EnvironmentsView
from tests.conftest import run_cli_process
from tests.support.apply_repo import make_repo, marked_pids, stop_everything, write_env
from tests.support.dashboard import SIZE, make_app
from tests.support.services import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = make_repo(tmp_path, versions=2)
    yield root
    stop_everything(root)


def canary(weight: int) -> dict[str, Any]:
    return {"churn": {"version": 1, "strategy": "canary", "candidate": 2, "weight": weight}}


def mlopsctl(*args: str) -> Any:
    """The real entry point in a subprocess (apply and plan run their own event loop for probes)."""
    return run_cli_process(*args)


def environment_cells(app: MlopsApp) -> list[list[str]]:
    """Each row's cells but HEALTH (a canary with no traffic yet is UNKNOWN: not this test's subject)."""
    table = app.screen.query_one("#environments", DataTable)
    rows = [[str(getattr(c, "plain", c)).strip() for c in table.get_row_at(i)] for i in range(table.row_count)]
    return [row[:4] + row[5:] for row in rows]


async def settle(app: MlopsApp, pilot: Any) -> None:
    """Let every worker (health, plans) finish and its message be handled."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def test_a_canary_after_apply_is_in_sync_in_the_view_as_in_plan(repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", canary(20), base_port=port)
    applied = mlopsctl("apply", "--env", "staging", "--repo", str(repo), "--timeout", "90")
    assert applied.code == 0, applied.stderr
    [pid] = marked_pids(repo, "staging")
    planned = mlopsctl("plan", "--env", "staging", "--repo", str(repo))
    assert planned.code == 0, planned.stderr
    assert planned.stdout.splitlines()[1:] == [
        f"  = in sync  churn            v1 + v2 canary 20% on local :{port}  (process {pid})",
        "No changes: staging matches Git (1 service in sync).",
    ]

    app = make_app(repo, fetch_health=None)  # live health: a direct scrape of the running canary
    async with app.run_test(size=SIZE) as pilot:
        app.refresh_health()
        await pilot.press("colon", *"env staging", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, EnvironmentsView)
        assert app.state.report is not None and app.state.report.deployments, "no live health was read"
        assert environment_cells(app) == [["staging", "churn", "v1 + v2 canary 20%", "v1 + v2 canary 20%", "= in sync"]]
        plan_panel = str(app.screen.query_one("#plan", Static).render())
        assert "No changes: staging matches Git (1 service in sync)." in plan_panel

        write_env(repo, "staging", canary(30), base_port=port)
        changed = mlopsctl("plan", "--env", "staging", "--repo", str(repo))
        assert changed.stdout.splitlines()[1] == (
            f"  ~ update   churn            v1 + v2 canary 20% -> v1 + v2 canary 30% on local :{port}  "
            "(weight 20% -> 30%)"
        )
        await pilot.press("r")
        await settle(app, pilot)
        assert environment_cells(app) == [
            ["staging", "churn", "v1 + v2 canary 30%", "v1 + v2 canary 20%", "~ update (weight 20% -> 30%)"]
        ]
        assert "1 to update, 0 in sync." in str(app.screen.query_one("#plan", Static).render())
