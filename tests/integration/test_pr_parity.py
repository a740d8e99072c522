"""One API, many faces: the CLI and the dashboard open byte-identical pull requests for the same promotion.

Two identical copies of one repository (same commits, each with its own bare remote behind a
GitHub-looking URL) and two loopback ``fake_forge`` APIs. The CLI promotes churn@1 to staging in
one copy; the dashboard does the same in the other through its promote modal (Pilot). The pull
request bodies and titles the forges received, and the commit messages, must be equal byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Select, Switch

from mlopsctl.monitor.health import HealthReport
from mlopsctl.spec.loader import Repo
from mlopsctl.tui.app import MlopsApp
from mlopsctl.tui.modals import PromoteModal
from mlopsctl.tui.views import ModelView
from tests.support.fake_forge import Forge, api_environment, serve
from tests.support.gitops_repo import git, make_gitops_repo

TOKEN = "ghp_parity_0123456789"
GITHUB_URL = "https://github.com/acme/churn-models.git"
BRANCH = "promote/churn-1-staging"
FIXED_DATE = "2026-02-01T12:00:00+00:00"


def no_health(_repo: Repo) -> HealthReport:
    return HealthReport("none", [])


def github_looking(base: Path) -> tuple[Path, Path]:
    """The repository's remote looks like GitHub; pushes go to the bare repository beside it."""
    root, remote = base / "repo", base / "acme/churn-models.git"
    git(root, "remote", "set-url", "origin", GITHUB_URL)
    git(root, "config", f"url.{remote}.pushInsteadOf", GITHUB_URL)
    return root, remote


@pytest.fixture
def copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[Path, Path], tuple[Path, Path]]:
    make_gitops_repo(tmp_path / "cli", remote_path="acme/churn-models.git")
    shutil.copytree(tmp_path / "cli", tmp_path / "dashboard", symlinks=True)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GIT_AUTHOR_DATE", FIXED_DATE)
    monkeypatch.setenv("GIT_COMMITTER_DATE", FIXED_DATE)
    return github_looking(tmp_path / "cli"), github_looking(tmp_path / "dashboard")


def use_forge(monkeypatch: pytest.MonkeyPatch, forge: Forge) -> None:
    for name, value in api_environment(forge.url).items():
        monkeypatch.setenv(name, value)


async def promote_in_dashboard(root: Path) -> None:
    app = MlopsApp(root, live=False, fetch_health=no_health)
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.pause()
        await app.push_screen(ModelView("churn"))
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("down", "down", "down")  # v4 (failed), v3, v2, v1
        await pilot.press("p")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, PromoteModal) and modal.ref == "churn@1"
        modal.query_one("#env", Select).value = "staging"
        assert modal.query_one("#direct", Switch).value is False
        await pilot.pause()
        modal.query_one("#confirm", Button).press()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()


async def test_cli_and_dashboard_open_identical_pull_requests(
    cli: Any, copies: tuple[tuple[Path, Path], tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    (cli_root, cli_remote), (tui_root, tui_remote) = copies
    assert git(cli_root, "rev-parse", "HEAD") == git(tui_root, "rev-parse", "HEAD")
    with serve(Forge(token=TOKEN, repository=cli_remote)) as from_cli:
        use_forge(monkeypatch, from_cli)
        result = cli("promote", "churn@1", "--env", "staging", "--repo", str(cli_root))
        assert result.code == 0, result.stderr
    with serve(Forge(token=TOKEN, repository=tui_remote)) as from_dashboard:
        use_forge(monkeypatch, from_dashboard)
        await promote_in_dashboard(tui_root)
    [by_cli], [by_dashboard] = from_cli.requests, from_dashboard.requests
    assert by_dashboard.body["title"] == by_cli.body["title"] == "Promote churn@1 to staging"
    assert by_dashboard.body["body"].encode() == by_cli.body["body"].encode()
    assert "### Plan for staging" in by_cli.body["body"] and "CI posts" not in by_cli.body["body"]
    messages = [git(root, "log", "-1", "--format=%B", BRANCH).encode() for root in (cli_root, tui_root)]
    assert messages[0] == messages[1]
    assert git(cli_remote, "rev-parse", BRANCH) == git(tui_remote, "rev-parse", BRANCH)
