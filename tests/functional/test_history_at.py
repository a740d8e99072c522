"""``mlopsctl history --at TIME --env ENV``: what an environment ran at a moment, from its file on main then.

A real repository whose commits carry set dates (GIT_AUTHOR_DATE / GIT_COMMITTER_DATE): mlopsctl's own
promotions, a hand edit by Ada, an unrelated commit and a ``git revert``; the answers come through the
real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.scaffold.init import init_repo
from tests.conftest import run_cli_process
from tests.support.env_commits import commit_env, env_text, git_at
from tests.support.gitops_repo import STAGING, write_record

ADA = "Ada Lovelace <ada@example.com>"
ARTIFACT, DATA, SPEC = "4" * 64, "2" * 64, "0" * 40


class Dated:
    """The repository and the commits the tests ask about."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.commits: dict[str, str] = {}

    def at(self, *args: str) -> Any:
        return run_cli_process("history", *args, "--repo", str(self.root))


def _when(monkeypatch: pytest.MonkeyPatch, date: str) -> None:
    monkeypatch.setenv("GIT_AUTHOR_DATE", date)
    monkeypatch.setenv("GIT_COMMITTER_DATE", date)


@pytest.fixture
def repo(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> Dated:
    """May 2026 in staging: churn@1 (2nd), churn@2 as a 25% canary (3rd), Ada's hand edit to 50% (4th),
    qa created (5th), Ada's edit reverted (6th)."""
    _when(monkeypatch, "2026-05-01T09:00:00Z")
    root = init_repo(tmp_path / "repo", "demo").root
    for version in (1, 2, 3):
        write_record(root, "churn", version)
    git_at(root, None, "add", "-A")
    git_at(root, None, "commit", "-q", "-m", "Register versions")
    made = Dated(root)
    for date, args in (
        ("2026-05-02T10:00:00Z", ("churn@1",)),
        ("2026-05-03T10:00:00Z", ("churn@2", "--weight", "25")),
    ):
        _when(monkeypatch, date)
        assert cli("promote", *args, "--env", "staging", "--direct", "--no-push", "--repo", str(root)).code == 0
        made.commits[date[:10]] = git_at(root, None, "rev-parse", "HEAD")
    monkeypatch.delenv("GIT_AUTHOR_DATE")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    canary = (root / STAGING).read_text()
    made.commits["hand"] = commit_env(
        root, "staging", canary.replace("weight: 25", "weight: 50"), "More traffic to v2\n",
        date="2026-05-04T10:00:00Z", author=ADA,
    )  # fmt: skip
    made.commits["qa"] = commit_env(root, "qa", env_text("qa", {}), "Add qa\n", date="2026-05-05T10:00:00Z")
    git_at(root, "2026-05-06T10:00:00Z", "revert", "--no-edit", made.commits["hand"])
    made.commits["revert"] = git_at(root, None, "rev-parse", "HEAD")
    return made


def test_a_hand_edit_is_the_truth_and_said_so(repo: Dated) -> None:
    result = repo.at("--at", "2026-05-04T12:00", "--env", "staging")
    assert result.code == 0, result.stderr
    hand = repo.commits["hand"]
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[:4] == [
        "staging at 2026-05-04T12:00:00+00:00 (no zone given: read as UTC)",
        f"  environments/staging.yaml on main at {hand[:10]} (committed 2026-05-04T10:00:00+00:00)",
        "model  version  strategy    candidate  set by      who           when              how",
        f"churn  v1       canary 50%  v2         {hand[:10]}  Ada Lovelace  2026-05-04 10:00  hand edit",
    ]
    assert lines[4:] == [
        f'churn: set by {hand[:10]} "More traffic to v2"',
        f"  v1 artifact sha256 {ARTIFACT}",
        f"     data sha256 {DATA} (500 rows, data/churn.csv)",
        f"     spec commit {SPEC}",
        f"  v2 artifact sha256 {ARTIFACT}",
        f"     data sha256 {DATA} (500 rows, data/churn.csv)",
        f"     spec commit {SPEC}",
    ]


def test_json_names_the_promotion_with_a_zone_and_the_moment_itself(repo: Dated) -> None:
    result = repo.at("--at", "2026-05-03T11:00:00+01:00", "--env", "staging", "-o", "json")
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)
    promotion = repo.commits["2026-05-03"]
    assert (found["at"], found["assumed_utc"], found["commit"], found["branch"]) == (
        "2026-05-03T10:00:00+00:00", False, promotion, "main",
    )  # fmt: skip
    (churn,) = found["models"]
    assert (churn["model"], churn["version"], churn["strategy"], churn["candidate"], churn["weight"]) == (
        "churn", 1, "canary", 2, 25,
    )  # fmt: skip
    assert churn["set_by"] == {
        "commit": promotion,
        "author": "Test User",
        "email": "test@example.com",
        "date": "2026-05-03T10:00:00+00:00",
        "subject": "Promote churn@2 to staging as a 25% canary",
        "how": "promote",
        "merged_in": None,
        "merged_at": None,
        "hand_edit": False,
    }
    assert [(r["version"], r["artifact_sha256"], r["data_sha256"], r["spec_commit"]) for r in churn["records"]] == [
        (1, ARTIFACT, DATA, SPEC),
        (2, ARTIFACT, DATA, SPEC),
    ]
    assert churn["notes"] == []


def test_a_revert_sets_the_placement_back_and_unrelated_commits_change_nothing(repo: Dated) -> None:
    result = repo.at("churn", "--at", "2026-05-07", "--env", "staging", "-o", "json")
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["commit"] == repo.commits["revert"]
    (churn,) = found["models"]
    assert (churn["weight"], churn["set_by"]["how"], churn["set_by"]["commit"]) == (
        25,
        "revert",
        repo.commits["revert"],
    )
    earlier = json.loads(repo.at("--at", "2026-05-05T12:00:00Z", "--env", "staging", "-o", "json").stdout)
    assert earlier["commit"] == repo.commits["qa"]  # the last commit on main, though it did not touch staging
    assert earlier["models"][0]["set_by"]["commit"] == repo.commits["hand"]


def test_an_age_reads_the_newest_state(repo: Dated) -> None:
    result = repo.at("--at", "2h ago", "--env", "staging", "-o", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["commit"] == repo.commits["revert"]


def test_an_environment_that_did_not_exist_then_exits_1(repo: Dated) -> None:
    result = repo.at("--at", "2026-05-04T12:00:00Z", "--env", "qa")
    assert (result.code, result.stdout) == (1, "")
    assert "qa did not exist at 2026-05-04T12:00:00Z (2026-05-04T12:00:00+00:00)" in result.stderr
    assert (
        f"environments/qa.yaml is not in main at {repo.commits['hand'][:10]} (2026-05-04T10:00:00+00:00)"
        in result.stderr
    )
    before = repo.at("--at", "2026-04-30", "--env", "staging")
    assert before.code == 1
    assert "staging did not exist at 2026-04-30 (2026-04-30T00:00:00+00:00)" in before.stderr
    assert "the first commit on main is later" in before.stderr


def test_a_model_not_deployed_then_exits_1(repo: Dated) -> None:
    result = repo.at("fraud", "--at", "2026-05-04T12:00:00Z", "--env", "staging")
    assert result.code == 1
    assert "fraud was not deployed in staging at 2026-05-04T12:00:00Z" in result.stderr
    assert "deployed then: churn" in result.stderr


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("2999-01-01", "--at 2999-01-01: 2999-01-01T00:00:00+00:00 is in the future, nothing was deployed then yet"),
        ("last tuesday", "--at 'last tuesday' is not a time"),
    ],
)
def test_a_future_or_unreadable_time_exits_2_naming_it(repo: Dated, at: str, message: str) -> None:
    result = repo.at("--at", at, "--env", "staging")
    assert (result.code, result.stdout) == (2, "")
    assert message in result.stderr


def test_at_needs_an_environment(repo: Dated) -> None:
    result = repo.at("--at", "1h ago")
    assert result.code == 2
    assert "--at needs --env: which environment's file to read" in result.stderr


def test_a_promotion_merged_as_a_pull_request_is_set_by_the_promotion_and_takes_effect_at_the_merge(
    repo: Dated, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _when(monkeypatch, "2026-05-07T10:00:00Z")
    assert cli("promote", "churn@3", "--env", "staging", "--no-push", "--repo", str(repo.root)).code == 0
    promotion = git_at(repo.root, None, "rev-parse", "promote/churn-3-staging")
    git_at(repo.root, "2026-05-08T10:00:00Z", "merge", "-q", "--no-ff", "-m", "Merge pull request #7", promotion)
    merge = git_at(repo.root, None, "rev-parse", "HEAD")

    waiting = json.loads(repo.at("--at", "2026-05-07T12:00:00Z", "--env", "staging", "-o", "json").stdout)
    assert (waiting["models"][0]["version"], waiting["commit"]) == (1, repo.commits["revert"])  # not merged yet

    result = repo.at("--at", "2026-05-08T12:00:00Z", "--env", "staging")
    assert result.code == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[1:5] == [
        f"  environments/staging.yaml on main at {merge[:10]} (committed 2026-05-08T10:00:00+00:00)",
        "model  version  strategy  candidate  set by      who        when              how",
        f"churn  v3       replace              {promotion[:10]}  Test User  2026-05-07 10:00  promote",
        f'churn: set by {promotion[:10]} "Promote churn@3 to staging", merged in {merge[:10]} (2026-05-08T10:00:00+00:00)',
    ]
