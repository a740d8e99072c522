"""Reading the dashboard's rollout panel (no tests here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Static

from mlopsctl.tui.app import MlopsApp
from mlopsctl.tui.views import EnvironmentsView
from tests.support.dashboard import SIZE, make_app


async def rollout_panel(app: MlopsApp, pilot: Pilot[None], env: str = "staging") -> str:
    """Open ``env`` in the Environments view, refresh once, and read the rollout panel ('' when hidden)."""
    await pilot.press("colon", *f"env {env}", "enter")
    await pilot.pause()
    app.refresh_health()
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, EnvironmentsView)
    panel = app.screen.query_one("#rollout", Static)
    return str(panel.render()) if panel.display else ""


def read_rollout_panel(root: Path, env: str = "staging") -> str:
    """The panel of a fresh dashboard on ``root``, from a synchronous test."""

    async def read() -> str:
        app = make_app(root)
        async with app.run_test(size=SIZE) as pilot:
            return await rollout_panel(app, pilot, env)

    return asyncio.run(read())
