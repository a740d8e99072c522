"""Every command of the dashboard's command mode opens its view without an error (issue 13: `:log`
crashed the dashboard)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl.tui.modals import HelpModal
from mlopsctl.tui.views import EnvironmentsView, HistoryView, LogView, ModelsView, ModelView
from tests.support.dashboard import SIZE, make_app
from tests.support.tui_repo import build_tui_repo

OPENED = [
    ("models", ModelsView),
    ("model churn", ModelView),
    ("env", EnvironmentsView),
    ("env staging", EnvironmentsView),
    ("environments", EnvironmentsView),
    ("history", HistoryView),
    ("history churn", HistoryView),
    ("log", LogView),
]


@pytest.fixture
def tui_repo(tmp_path: Path) -> Path:
    return build_tui_repo(tmp_path / "repo")


async def test_every_command_opens_its_view(tui_repo: Path) -> None:
    app = make_app(tui_repo, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for line, view in OPENED:
            await pilot.press("colon", *line, "enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.current_view(), view), line
        await pilot.press("colon", *"help", "enter")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code in (None, 0)
