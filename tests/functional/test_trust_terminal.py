"""Issue 11: text from a hostile commit or run database never reaches the terminal as control codes.

A commit whose author, subject and trailers hold ``ESC ] 0 ; ... BEL`` (retitle the terminal),
``ESC [ 2 J`` (clear it) and a C1 CSI, and runs whose ids and params hold them: ``history``,
``runs list|show``, error messages and the dashboard show the visible text without those bytes;
``--output json`` keeps them, escaped by JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from textual.widgets import DataTable

from mlopsctl.scaffold.init import init_repo
from mlopsctl.spec.loader import open_repo
from mlopsctl.textsafe import terminal_safe
from mlopsctl.tracking.store import FINISHED, Run, RunStore
from mlopsctl.tui.app import MlopsApp
from mlopsctl.tui.views import HistoryView, ModelView
from tests.support.dashboard import SIZE, make_app, open_model
from tests.support.tui_repo import build_tui_repo

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
C1_CSI = "\x9b31m"
AUTHOR = f"Mal{TITLE}lory{C1_CSI}"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
RUN_IDS = (f"ab{TITLE}1", f"ab{CLEAR}2")


def git(root: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True, env={**os.environ, **env}
    )
    return done.stdout


def hostile_commit(root: Path) -> None:
    """A promotion commit as a compromised account could push it."""
    message = (
        f"Promote {CLEAR}churn@1\n\nAction: promote\nModel: ch{CLEAR}urn\nVersion: 1\n"
        f"Env: st{TITLE}aging\nStrategy: replace[/]\nPrevious: none{C1_CSI}\n"
    )
    git(root, "commit", "-q", "--allow-empty", "-m", message, GIT_AUTHOR_NAME=AUTHOR, GIT_AUTHOR_EMAIL="m@x.org")


def hostile_run(store: RunStore, run_id: str, model: str = "churn") -> None:
    store.start(
        Run(
            id=run_id,
            model=model,
            kind="train",
            status=FINISHED,
            started=time.time(),
            estimator=f"Forest{CLEAR}",
            params={f"depth{TITLE}": f"deep{C1_CSI}"},
            git_dirty=False,
            environment={"python": "3.11", "platform": "linux", "packages": {}},
            host="h",
            pid=1,
            metrics={f"auc{CLEAR}": 0.9},
        )
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo", "demo").root
    hostile_commit(root)
    with RunStore(open_repo(root).metadata_db) as store:
        for run_id in RUN_IDS:
            hostile_run(store, run_id)
    return root


def assert_clean(text: str) -> None:
    assert CONTROL.search(text) is None, repr(text)


def test_history_shows_the_author_and_trailers_without_control_codes(cli: Any, repo: Path) -> None:
    result = cli("history", "--repo", str(repo))
    assert result.code == 0, result.stderr
    assert_clean(result.stdout)
    row = result.stdout.splitlines()[1].split()
    assert row[2:8] == ["Mal]0;pwnedlory31m", "promote", "ch[2Jurn", "v1", "st]0;pwnedaging", "replace[/]"]
    assert row[8] == "none31m"
    result = cli("history", "--repo", str(repo), "-o", "json")  # scripts get the exact text, JSON-escaped
    assert result.code == 0, result.stderr
    assert_clean(result.stdout)
    assert "\\u001b]0;pwned\\u0007" in result.stdout
    entry = json.loads(result.stdout)["entries"][0]
    assert (entry["author"], entry["subject"], entry["model"]) == (AUTHOR, f"Promote {CLEAR}churn@1", f"ch{CLEAR}urn")


def test_runs_list_and_show_show_ids_and_params_without_control_codes(cli: Any, repo: Path) -> None:
    listed = cli("runs", "list", "--repo", str(repo))
    assert listed.code == 0, listed.stderr
    assert_clean(listed.stdout)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["ab[2J2", "ab]0;pwned1"]
    assert "auc[2J=0.9000" in listed.stdout
    shown = cli("runs", "show", RUN_IDS[0], "--repo", str(repo))
    assert shown.code == 0, shown.stderr
    assert_clean(shown.stdout)
    assert shown.stdout.startswith("Run ab]0;pwned1  churn  FINISHED  (train)\n")
    assert re.search(r"^depth]0;pwned +deep31m$", shown.stdout, re.MULTILINE), shown.stdout
    assert re.search(r"^estimator +Forest\[2J +$", shown.stdout, re.MULTILINE), shown.stdout


def test_error_messages_quoting_the_run_database_have_no_control_codes(cli: Any, repo: Path) -> None:
    result = cli("runs", "show", "ab", "--repo", str(repo))
    assert result.code == 2
    assert result.stderr == (
        "error: Usage error: run 'ab' is ambiguous: it starts 2 run ids (ab]0;pwned1, ab[2J2)\n"
        "hint: give more of the id\n"
    )


async def test_dashboard_history_and_runs_cells_have_no_control_codes(tmp_path: Path) -> None:
    root = build_tui_repo(tmp_path / "repo")
    hostile_commit(root)
    with RunStore(open_repo(root).metadata_db) as store:
        hostile_run(store, RUN_IDS[0])
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await open_model(app, pilot)
        assert isinstance(app.screen, ModelView)
        runs = rendered(app.screen.query_one("#runs", DataTable))
        assert_clean(runs)
        assert "ab]0;pwned1" in runs
        await pilot.press("colon", *"history", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, HistoryView)
        history = rendered(app.screen.query_one("#history", DataTable))
        assert_clean(history)
        assert "Mal]0;pwnedlory31m" in history
        assert "ch[2Jurn" in history and "st]0;pwnedaging" in history


def rendered(table: DataTable[Any]) -> str:
    """The table's lines as the terminal gets them (text of every rendered segment)."""
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


async def test_dashboard_panels_and_notifications_have_no_control_codes(tmp_path: Path) -> None:
    root = build_tui_repo(tmp_path / "repo")
    app: MlopsApp = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.notify(f"churn: CRIT {TITLE}[/]")
        await app.push_screen(ModelView(f"ch{CLEAR}urn"))
        await pilot.pause()
        assert [str(n.message) for n in app._notifications] == ["churn: CRIT ]0;pwned[/]"]
        crumbs = str(app.screen.query_one("#crumbs").render())
        assert crumbs.startswith("mlopsctl › models › ch[2Jurn  │ "), crumbs


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x2FF)))
def test_terminal_safe_keeps_exactly_the_characters_a_terminal_does_not_act_on(text: str) -> None:
    safe = terminal_safe(text)
    assert_clean(safe)
    assert safe == "".join(c for c in text if c in "\n\t" or not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F))
