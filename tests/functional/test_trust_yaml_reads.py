"""Issue 11: the last raw YAML reads of repository files go through the bounded loader.

Committed archive lists and records read by promote, past revisions of an environment file read by
rollback, ``images.yaml`` read by build and the dashboard, and environment files read by the
overview: an alias bomb, deep nesting or a value of the wrong kind in any of them ends in one clear
error or problem naming the file, never "Internal error", never a hang.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlopsctl.tui.modals import ErrorModal
from tests.support.dashboard import SIZE, make_app, open_model
from tests.support.gitops_repo import STAGING, GitopsRepo, git, make_gitops_repo, promote
from tests.support.hostile_yaml import BOMB, HUGE
from tests.support.tui_repo import build_tui_repo


@pytest.fixture
def repo(tmp_path: Path) -> GitopsRepo:
    return make_gitops_repo(tmp_path)


def commit_file(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(root, "add", relative)
    git(root, "commit", "-q", "-m", f"Change {relative}")


# --------------------------------------------------------------------------- promote: archive lists and records

ARCHIVE = "registry/churn/archived.yaml"
ARCHIVE_HINT = f"hint: archived.yaml is written by mlopsctl archive; see who changed it with: git log -p -- {ARCHIVE}"
BAD_ARCHIVES = [
    ("archived: 5\n", "1:11: archived: expected a list of entries such as - version: 3"),
    (
        f"archived:\n- version: {HUGE}\n",
        "2:12: archived[0].version: cannot read '9999999999999999999999999999999999999999...' as an integer: "
        "more digits than a number may have",
    ),
    ("archived:\n- version: '3'\n", "2:12: archived[0].version: expected a version number from 1 to 999999999"),
    ("archived:\n- version: 1000000000\n", "2:12: archived[0].version: expected a version number from 1 to 999999999"),
    ("archived:\n- version: true\n", "2:12: archived[0].version: expected a version number from 1 to 999999999"),
    ("archived:\n- 3\n", "2:3: archived[0].version: expected a version number from 1 to 999999999"),
    (BOMB, "1:50: e: alias expansion exceeds 10000 nodes"),
]


ARCHIVE_IDS = ["not-a-list", "huge", "string", "too-big", "bool", "not-a-mapping", "bomb"]


@pytest.mark.parametrize(("text", "problem"), BAD_ARCHIVES, ids=ARCHIVE_IDS)
def test_promote_refuses_a_committed_bad_archive_list_naming_it(
    cli: Any, repo: GitopsRepo, text: str, problem: str
) -> None:
    commit_file(repo.root, ARCHIVE, text)
    before = repo.head()
    result = promote(cli, repo, "churn@1", "--env", "staging", "--no-push")
    assert result.code == 1, result.stdout
    assert result.stderr.splitlines() == [
        f"error: Invalid archive list: archive list {ARCHIVE}:{problem}",
        ARCHIVE_HINT,
    ]
    assert repo.head() == before


RECORD = "registry/churn/v1.yaml"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "gates_passed: true",
            "gates_passed: maybe",
            "20:15: gates_passed: Input should be a valid boolean, unable to interpret input (got 'maybe')",
        ),
        (
            "version: 1\n",
            "version: 1000000000\n",
            "4:10: version: Input should be less than or equal to 999999999 (got '1000000000')",
        ),
        (
            "version: 1\n",
            "version: !!python/name:os.system ''\n",
            "4:10: version: unsupported tag '!!python/name:os.system' on ''",
        ),
    ],
    ids=["bool", "huge", "tag"],
)
def test_promote_refuses_a_committed_bad_record_naming_it(
    cli: Any, repo: GitopsRepo, old: str, new: str, problem: str
) -> None:
    commit_file(repo.root, RECORD, repo.read(RECORD).replace(old, new, 1))
    result = promote(cli, repo, "churn@1", "--env", "staging", "--no-push")
    assert result.code == 1, result.stdout
    assert result.stderr.splitlines() == [
        f"error: Invalid record: registry record {RECORD}:{problem}",
        f"hint: records are written by mlopsctl and never edited; see who changed it with: git log -p -- {RECORD}",
    ]


def test_promote_still_reads_a_good_archive_list(cli: Any, repo: GitopsRepo) -> None:
    commit_file(repo.root, ARCHIVE, "archived:\n- version: 2\n  by: A <a@example.com>\n")
    assert promote(cli, repo, "churn@1", "--env", "staging", "--no-push").code == 0
    result = promote(cli, repo, "churn@2", "--env", "production", "--no-push")
    assert result.code == 1
    assert result.stderr.splitlines()[0] == "error: Refused by policy: churn@2 is archived and cannot be deployed"


# --------------------------------------------------------------------------- rollback: past revisions


@pytest.mark.parametrize(("prefix", "version"), [("", "abc"), ("", HUGE), (BOMB, "*i")], ids=["word", "huge", "bomb"])
def test_rollback_skips_a_past_revision_that_holds_no_version(
    cli: Any, repo: GitopsRepo, prefix: str, version: str
) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct", "--no-push").code == 0
    text = repo.read(STAGING)
    commit_file(repo.root, STAGING, prefix + text.replace("version: 1", f"version: {version}"))
    commit_file(repo.root, STAGING, text.replace("version: 1", "version: 2"))
    result = cli("rollback", "churn", "--env", "staging", "--direct", "--no-push", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Roll back churn in staging to version 1"


# --------------------------------------------------------------------------- history: unreadable trailers


def test_history_says_which_trailer_it_could_not_read(cli: Any, repo: GitopsRepo) -> None:
    message = (
        f"Promote churn@{HUGE[:9]}\n\nAction: promote\nModel: churn\nVersion: {HUGE}\nEnv: staging\nWeight: [red]x\n"
    )
    git(repo.root, "commit", "-q", "--allow-empty", "-m", message)
    result = cli("history", "--repo", str(repo.root))
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-1] == (
        f"? {repo.head()[:10]}: (unreadable Version: trailer '99999999999999999999...', Weight: trailer '[red]x')"
    )


# --------------------------------------------------------------------------- the dashboard reading images.yaml


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("images: 5\n", "1:9: images: expected a list of entries such as - version: 3"),
        (BOMB, "1:50: e: alias expansion exceeds 10000 nodes"),
        (
            "images:\n- {model: churn, version: !!python/name:os.system ''}\n",
            "2:27: images[0].version: unsupported tag '!!python/name:os.system' on ''",
        ),
    ],
    ids=["not-a-list", "bomb", "tag"],
)
async def test_the_dashboard_names_a_bad_images_yaml(tmp_path: Path, text: str, problem: str) -> None:
    root = build_tui_repo(tmp_path / "repo")
    path = root / "registry" / "churn" / "images.yaml"
    path.write_text(text)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await open_model(app, pilot)
        assert isinstance(app.screen, ErrorModal)
        assert (app.screen.title_text, app.screen.message) == ("Invalid image list", f"image list {path}:{problem}")
