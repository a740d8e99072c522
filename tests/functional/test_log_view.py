"""The Log view shows what the dashboard ran: the git, process and HTTP operations of a train, a
promote and an apply started from its own keys (issue 12: every port records its calls)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from textual.widgets import RichLog

from mlopsctl.scaffold.init import init_repo
from tests.support.apply_repo import git, stop_everything
from tests.support.dashboard import SIZE, make_app, train_promote_apply
from tests.support.services import free_port

pytestmark = pytest.mark.slow
ENTRY = re.compile(r"^\d\d:\d\d:\d\d [✓✗] (\w+) +(.*)$")


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = init_repo(tmp_path / "repo", "logview").root
    spec_file = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["training"]["params"]["n_estimators"] = 10
    spec["training"].pop("grid", None)
    spec["evaluation"]["gates"] = ["roc_auc >= 0.6"]  # no latency gate: this machine is shared
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    env_file = root / "environments" / "staging.yaml"
    env = yaml.safe_load(env_file.read_text())
    env["base_port"] = free_port()
    env_file.write_text(yaml.safe_dump(env, sort_keys=False))
    git(root, "commit", "-qam", "A small forest, a free port")
    yield root
    stop_everything(root)


def log_lines(log: RichLog) -> list[str]:
    return [strip.text for strip in log.lines]


async def test_train_promote_apply_from_the_dashboard_fill_the_log_view(repo: Path) -> None:
    app = make_app(repo)
    async with app.run_test(size=SIZE) as pilot:
        await train_promote_apply(app, pilot, "staging")
        lines = log_lines(app.screen.query_one("#log", RichLog))
    entries = [found.groups() for line in lines if (found := ENTRY.match(line))]
    kinds = {kind for kind, _ in entries}
    assert {"git", "process", "http"} <= kinds, lines
    commands = [command for _, command in entries]
    assert sum(command.startswith("git commit -q -m Register churn@1") for command in commands) == 1  # train
    assert any(command.startswith("git commit-tree") for command in commands)  # the promotion's commit
    assert any(kind == "process" and "-m mlopsctl.serve" in command for kind, command in entries)  # apply
    assert any(kind == "http" and command.endswith("/health/ready") for kind, command in entries)  # its probe


async def test_repeated_scrapes_fold_and_new_entries_show_past_the_logs_capacity(tmp_path: Path) -> None:
    from mlopsctl import oplog

    app = make_app(init_repo(tmp_path / "repo", "logfold").root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(50):
            oplog.record("http", "GET http://127.0.0.1:9/metrics", True)
        oplog.record("git", "git commit -q -m Promote", True)
        await pilot.press("colon", *"log", "enter")
        await pilot.pause()
        log = app.screen.query_one("#log", RichLog)
        lines = log_lines(log)
        assert [line[9:] for line in lines[-3:]] == [
            "✓ http       GET http://127.0.0.1:9/metrics",
            f"… repeated 49 more times, last at {lines[-3][:8]}",
            "✓ git        git commit -q -m Promote",
        ]
        maxlen = app.state.operations.maxlen
        assert maxlen is not None
        for n in range(maxlen + 10):  # the deque drops the oldest: the view must still see the newest
            oplog.record("process", f"start {n}", True)
        await pilot.press("r")
        await pilot.pause()
        assert log_lines(log)[-1].endswith(f"start {maxlen + 9}")


def test_a_dashboard_that_stops_on_an_internal_error_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`:log` used to crash the dashboard and the process still exited 0 (issue 13): a crash is 1."""
    from mlopsctl.tui.app import MlopsApp, run_dashboard

    def broken(self: MlopsApp) -> None:
        raise RuntimeError("a view that crashes on mount")

    monkeypatch.setattr(MlopsApp, "on_mount", broken)
    assert run_dashboard(init_repo(tmp_path / "repo", "crash").root, headless=True) == 1
