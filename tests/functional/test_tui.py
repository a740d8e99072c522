"""The dashboard driven with Pilot on real generated repositories.

Snapshots (SVG) live in tests/functional/snapshots/; regenerate them with
``UPDATE_SNAPSHOTS=1 pytest tests/functional/test_tui.py`` and review the diff.
"""

from __future__ import annotations

import gc
import os
import subprocess
from pathlib import Path

import pytest
from textual.widgets import DataTable, Footer, Static

from mlopsctl.errors import PrometheusUnreachable
from mlopsctl.monitor.health import HealthReport
from mlopsctl.spec.loader import Repo
from mlopsctl.tui.app import MlopsApp
from mlopsctl.tui.modals import ConfirmModal, ErrorModal, HelpModal, PromoteModal
from mlopsctl.tui.present import live_text
from mlopsctl.tui.views import EnvironmentsView, HistoryView, ModelsView, ModelView
from tests.support.dashboard import SIZE, make_app, open_model
from tests.support.tui_repo import build_tui_repo

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.fixture
def tui_repo(tmp_path: Path) -> Path:
    return build_tui_repo(tmp_path / "repo")


def cells(table: DataTable[object]) -> list[list[str]]:
    """What each cell shows, without the padding that keeps the TREND column at a fixed width."""
    return [[str(getattr(c, "plain", c)).strip() for c in table.get_row_at(i)] for i in range(table.row_count)]


def crumbs(app: MlopsApp) -> str:
    return str(app.screen.query_one("#crumbs", Static).render())


def assert_snapshot(app: MlopsApp, name: str) -> None:
    svg = app.export_screenshot(title=name)
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(svg)
    assert path.is_file(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 and review it"
    assert svg == path.read_text(), f"{name} differs from {path}: run with UPDATE_SNAPSHOTS=1 and review the diff"


async def test_models_view_lists_models_with_placements(tui_repo: Path) -> None:
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ModelsView)
        table = app.screen.query_one("#models", DataTable)
        assert [str(c.label) for c in table.columns.values()] == [
            "MODEL",
            "LATEST",
            "VERSIONS",
            "PRODUCTION",
            "STAGING",
            "HEALTH",
            "DRIFT",
            "REQ/S",
            "TREND",
        ]
        assert cells(table) == [["churn", "v2", "2", "-", "v1", "-", "", "-", ""]]
        assert "mlopsctl › models" in crumbs(app)
        assert_snapshot(app, "models")


async def test_enter_drills_into_a_model_and_esc_goes_back(tui_repo: Path) -> None:
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE) as pilot:
        await open_model(app, pilot)
        assert isinstance(app.screen, ModelView)
        assert "mlopsctl › models › churn" in crumbs(app)
        versions = cells(app.screen.query_one("#versions", DataTable))
        assert [row[0] for row in versions] == ["v2", "v1"]
        assert versions[1][-1] == "staging" and versions[0][-1] == "-"
        assert versions[0][2] == "roc_auc 0.831"
        assert_snapshot(app, "model")
        await pilot.press("escape")
        assert isinstance(app.screen, ModelsView)


async def test_filter_narrows_and_escape_clears(tmp_path: Path) -> None:
    root = build_tui_repo(tmp_path / "repo", models=3)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#models", DataTable)
        assert table.row_count == 3
        await pilot.press("slash", *"churn-", "enter")
        assert [row[0] for row in cells(table)] == ["churn-2", "churn-3"]
        assert "filter: /churn-" in crumbs(app)
        await pilot.press("escape")
        assert table.row_count == 3


async def test_command_mode_switches_views(tui_repo: Path) -> None:
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("colon", *"history", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, HistoryView)
        history = cells(app.screen.query_one("#history", DataTable))
        assert history[0][:7] == ["2026-01-15 10:00", "Test User", "promote", "churn", "v1", "staging", "replace"]
        await pilot.press("colon", *"env staging", "enter")
        await pilot.pause()
        assert isinstance(app.screen, EnvironmentsView)
        assert cells(app.screen.query_one("#environments", DataTable))[0][:3] == ["staging", "churn", "v1"]
        await pilot.press("colon", *"histroy", "enter")
        await pilot.pause()
        assert isinstance(app.screen, EnvironmentsView)
        assert any("unknown command 'histroy'; did you mean 'history'?" in str(n.message) for n in app._notifications)


async def test_help_lists_every_binding_from_the_registry(tui_repo: Path) -> None:
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        assert_snapshot(app, "help")


async def test_promotion_through_the_modal_lands_as_a_commit(tui_repo: Path) -> None:
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE) as pilot:
        await open_model(app, pilot)
        await pilot.press("down")  # v1: the version that ran in staging
        await pilot.press("p")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, PromoteModal)
        modal.query_one("#env").value = "production"  # type: ignore[attr-defined]
        modal.query_one("#direct").value = True  # type: ignore[attr-defined]
        await pilot.pause()
        preview = str(modal.query_one("#preview", Static).render())
        assert "✓ roc_auc >= 0.75  (measured 0.812)" in preview
        assert "Promote churn@1 to production" in preview
        assert "+  churn:" in preview and "+    version: 1" in preview
        await pilot.click("#confirm")
        await app.workers.wait_for_complete()
        await pilot.pause()
    log = subprocess.run(
        ["git", "log", "-1", "--format=%s%n%b"], cwd=tui_repo, capture_output=True, text=True, check=True
    )
    assert log.stdout.startswith("Promote churn@1 to production")
    assert "Env: production" in log.stdout
    assert "version: 1" in (tui_repo / "environments/production.yaml").read_text()


async def test_a_refused_promotion_cannot_be_confirmed(tui_repo: Path) -> None:
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE) as pilot:
        await open_model(app, pilot)
        await pilot.press("p")  # v2 never ran in staging: production must refuse it
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, PromoteModal)
        modal.query_one("#env").value = "production"  # type: ignore[attr-defined]
        await pilot.pause()
        assert "✗" in str(modal.query_one("#preview", Static).render())
        assert modal.query_one("#confirm").disabled


async def test_readonly_hides_every_mutating_action(tui_repo: Path) -> None:
    app = make_app(tui_repo, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = {
            b.binding.action
            for b in app.screen.active_bindings.values()
            if app.check_action(b.binding.action, ()) is not False
        }
        assert not shown & {"promote", "rollback", "archive", "build", "train", "apply"}
        assert {"command_mode", "filter", "help", "plan"} <= shown
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ModelsView)
        assert "[readonly]" in crumbs(app)
        footer_text = app.screen.query_one(Footer)
        assert footer_text is not None


async def test_keys_are_remappable_from_the_config(tui_repo: Path) -> None:
    settings = tui_repo / "mlops.yaml"
    settings.write_text(settings.read_text() + "ui:\n  keymap:\n    help: f1\n")
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)


async def test_an_unreachable_metrics_source_shows_a_banner_and_recovers(tui_repo: Path) -> None:
    down = {"now": True}

    def flaky(_repo: Repo) -> HealthReport:
        if down["now"]:
            raise PrometheusUnreachable("Prometheus at http://127.0.0.1:9 did not answer: connection refused")
        return HealthReport("prometheus", [])

    app = make_app(tui_repo, fetch_health=flaky)
    async with app.run_test(size=SIZE) as pilot:
        app.refresh_health()
        await app.workers.wait_for_complete()
        await pilot.pause()
        banner = app.screen.query_one("#banner", Static)
        assert banner.display and "did not answer" in str(banner.render())
        assert app.screen.query_one("#models", DataTable).row_count == 1  # the rest keeps working
        down["now"] = False
        app.refresh_health()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not banner.display


async def test_errors_from_actions_show_in_a_modal(tui_repo: Path) -> None:
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE) as pilot:
        await open_model(app, pilot)
        await pilot.press("x")  # archive v2 (not running anywhere): a confirmation first
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.click("#confirm")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("down", "x")  # v1 runs in staging: refused
        await pilot.pause()
        await pilot.click("#confirm")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorModal)
        assert "staging" in app.screen.message


async def test_no_collector_pass_over_start_up_then_the_heap_is_frozen(tui_repo: Path) -> None:
    gc.unfreeze()
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE) as pilot:
        assert not gc.isenabled()  # mounted, first screen not painted yet
        for _ in range(100):
            if app.state.repo is not None and gc.isenabled():
                break
            await pilot.pause(0.02)
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
    assert gc.isenabled()
    gc.unfreeze()


async def test_an_app_stopped_before_its_first_screen_turns_the_collector_back_on(tui_repo: Path) -> None:
    app = make_app(tui_repo)
    async with app.run_test(size=SIZE):
        assert not gc.isenabled()
    assert gc.isenabled()


def test_live_lines_fit_the_side_panel_without_wrapping(tui_repo: Path) -> None:
    app = make_app(tui_repo)
    series = app.state.live_history[("staging", "churn", 1, "stable")]
    for value in range(60):
        series["request_rate"].append(1000.0 + value)
        series["p95_latency_ms"].append(2.5)
        series["error_rate"].append(0.125)
        series["cpu_cores"].append(0.04)
        series["memory_bytes"].append(268 * 2**20 + value)
    lines = live_text(app.state, "churn").plain.splitlines()
    assert len(lines) == 6
    # the panel is 46 columns wide: a border, one column of padding on each side
    assert max(len(line) for line in lines) <= 42, lines
