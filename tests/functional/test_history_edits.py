"""history shows what a ``git revert`` and a hand edit of environments/ did, with their authors (issue 13, item 4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli_process
from tests.support.gitops_repo import STAGING, GitopsRepo, git, make_gitops_repo, promote

ADA = "Ada Lovelace <ada@example.com>"


@pytest.fixture
def repo(tmp_path: Path, cli: Any) -> GitopsRepo:
    """churn@1 then churn@2 promoted to staging, the second reverted with git, fraud@1 promoted, then taken
    out by hand by Ada."""
    made = make_gitops_repo(tmp_path, models=("churn", "fraud"))
    for ref in ("churn@1", "churn@2"):
        assert promote(cli, made, ref, "--env", "staging", "--direct").code == 0
    git(made.root, "revert", "--no-edit", "HEAD")
    assert promote(cli, made, "fraud@1", "--env", "staging", "--direct").code == 0
    path = made.root / STAGING
    path.write_text(path.read_text().replace("  fraud:\n    version: 1\n", "") + "  # fraud left by hand\n")
    git(made.root, "commit", "-q", "--author", ADA, "-am", "Take fraud out of staging")
    return made


def entries(cli: Any, repo: GitopsRepo, *args: str) -> list[dict[str, Any]]:
    result = cli("history", *args, "-o", "json", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)["entries"]
    return found


def test_a_revert_and_a_hand_edit_appear_as_what_they_did(cli: Any, repo: GitopsRepo) -> None:
    found = entries(cli, repo, "--limit", "4")
    summary = [
        (e["action"], e["author"], e["model"], e["version"], e["env"], e["change"], e["previous"]) for e in found
    ]
    assert summary == [
        ("edit", "Ada Lovelace", "fraud", None, "staging", "removed", "1"),
        ("promote", "Test User", "fraud", 1, "staging", None, "none"),
        ("revert", "Test User", "churn", 1, "staging", "version", "2"),
        ("promote", "Test User", "churn", 2, "staging", None, "1"),
    ]
    edit, _, revert, promotion = found
    assert (edit["email"], edit["subject"], edit["origin"]) == ("ada@example.com", "Take fraud out of staging", "diff")
    assert edit["commit"] == repo.head()
    assert revert["subject"] == 'Revert "Promote churn@2 to staging"'
    assert (revert["reverts"], revert["reverted"]) == (promotion["commit"], "Promote churn@2 to staging")
    assert (revert["strategy"], revert["gates_passed"], revert["origin"]) == ("replace", True, "diff")
    assert promotion["origin"] == "trailers"


def test_the_table_names_the_reverted_promotion(cli: Any, repo: GitopsRepo) -> None:
    result = cli("history", "--limit", "3", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    revert, promotion = git(repo.root, "rev-parse", "HEAD~2", "HEAD~3").split()
    assert [line.split()[2:] for line in (lines[1], lines[3])] == [
        f"Ada Lovelace edit fraud removed staging 1 unknown {repo.head()[:10]}".split(),
        f"Test User revert churn v1 staging replace 2 passed (2) {revert[:10]}".split(),
    ]
    assert lines[4] == f'{revert[:10]} reverts {promotion[:10]} "Promote churn@2 to staging"'


def test_filters_apply_to_edits(cli: Any, repo: GitopsRepo) -> None:
    assert [e["action"] for e in entries(cli, repo, "churn")] == ["revert", "promote", "promote"]
    assert [e["action"] for e in entries(cli, repo, "fraud", "--env", "staging")] == ["edit", "promote"]
    assert entries(cli, repo, "--env", "production") == []


def test_a_merged_branch_with_a_hand_edit_is_listed_once(cli: Any, repo: GitopsRepo) -> None:
    git(repo.root, "checkout", "-q", "-b", "hand")
    path = repo.root / STAGING
    path.write_text(path.read_text().replace("version: 1", "version: 3"))
    git(repo.root, "commit", "-q", "--author", ADA, "-am", "churn 3 in staging by hand")
    git(repo.root, "checkout", "-q", "main")
    git(repo.root, "commit", "-q", "--allow-empty", "-m", "Something else on main")
    git(repo.root, "merge", "-q", "--no-ff", "-m", "Merge branch 'hand'", "hand")
    found = entries(cli, repo, "--limit", "2")
    assert [(e["action"], e["author"], e["subject"], e["version"], e["previous"]) for e in found] == [
        ("edit", "Ada Lovelace", "churn 3 in staging by hand", 3, "1"),  # the merge itself added nothing
        ("edit", "Ada Lovelace", "Take fraud out of staging", None, "1"),
    ]


def test_a_new_edit_and_a_rewritten_history_are_seen(cli: Any, repo: GitopsRepo) -> None:
    # the walk over commits without trailers is kept in .git/mlopsctl/: it must never hide a change
    assert entries(cli, repo)[0]["subject"] == "Take fraud out of staging"
    assert (repo.root / ".git" / "mlopsctl" / "history-edits-all.json").is_file()
    path = repo.root / STAGING
    path.write_text(path.read_text().replace("version: 1", "version: 2"))
    git(repo.root, "commit", "-q", "--author", ADA, "-am", "churn 2 again")
    assert [(e["subject"], e["version"]) for e in entries(cli, repo, "--limit", "1")] == [("churn 2 again", 2)]
    git(repo.root, "reset", "-q", "--hard", "HEAD~1")
    assert entries(cli, repo, "--limit", "1")[0]["subject"] == "Take fraud out of staging"
    assert entries(cli, repo)[0]["subject"] == "Take fraud out of staging"


def test_through_the_installed_entry_point(repo: GitopsRepo) -> None:
    result = run_cli_process("history", "--limit", "1", "-o", "json", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    [entry] = json.loads(result.stdout)["entries"]
    assert (entry["action"], entry["author"], entry["change"]) == ("edit", "Ada Lovelace", "removed")
