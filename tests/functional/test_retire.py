"""retire: a model or one version out of every environment and archived, in one commit (issue 13, item 11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_cli_process
from tests.support.gitops_repo import STAGING, GitopsRepo, git, make_gitops_repo, promote

PRODUCTION = "environments/production.yaml"
ARCHIVED = "registry/churn/archived.yaml"


@pytest.fixture
def repo(tmp_path: Path, cli: Any) -> GitopsRepo:
    """churn@1 in staging and production, churn@2 a 20% canary in staging; fraud@1 in staging."""
    made = make_gitops_repo(tmp_path, models=("churn", "fraud"))
    for args in (
        ("churn@1", "--env", "staging"),
        ("churn@1", "--env", "production"),
        ("churn@2", "--env", "staging", "--weight", "20"),
        ("fraud@1", "--env", "staging"),
    ):
        assert promote(cli, made, *args, "--direct").code == 0
    return made


def retire(cli: Any, repo: GitopsRepo, *args: str) -> Any:
    return cli("retire", *args, "--repo", str(repo.root))


def deployments(repo: GitopsRepo, path: str, ref: str = "HEAD") -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(git(repo.root, "show", f"{ref}:{path}"))["deployments"]
    return found


def archived(repo: GitopsRepo, ref: str = "HEAD") -> list[int]:
    return [e["version"] for e in yaml.safe_load(git(repo.root, "show", f"{ref}:{ARCHIVED}"))["archived"]]


def test_retire_a_model_in_one_direct_commit(cli: Any, repo: GitopsRepo) -> None:
    before = repo.head()
    result = retire(cli, repo, "churn", "--direct", "-m", "replaced by the new churn service")
    assert result.code == 0, result.stderr
    commit = repo.head()
    assert result.stdout.splitlines() == [
        "Retire churn: out of production, staging, archive versions 1, 2, 3, 4",
        f"  commit {commit[:12]} on main ({PRODUCTION}, {STAGING}, {ARCHIVED})",
        "  pushed to origin",
        "Pushed to origin main.",
        "Archived in the same commit: churn 1, 2, 3, 4",
        "CI stops it from main (mlopsctl apply --env production; mlopsctl apply --env staging).",
    ]
    assert git(repo.root, "rev-parse", f"{commit}^") == before
    assert git(repo.root, "diff", "--name-only", before, commit).split() == [PRODUCTION, STAGING, ARCHIVED]
    assert deployments(repo, STAGING) == {"fraud": {"version": 1}}
    assert deployments(repo, PRODUCTION) == {}
    assert archived(repo) == [1, 2, 3, 4]
    assert git(repo.remote, "rev-parse", "main") == commit
    assert git(repo.root, "log", "-1", "--format=%B") == (
        "Retire churn: out of production, staging, archive versions 1, 2, 3, 4\n\n"
        "replaced by the new churn service\n\n"
        "Action: retire\nModel: churn\nEnv: production\nEnv: staging\nPrevious: production 1; staging 1 canary 2 at 20%"
    )
    # the whole model is now refused, and history shows one retire entry for either environment
    assert cli("archive", "churn@1", "--direct", "--repo", str(repo.root)).stderr.strip() == (
        "error: Nothing to change: churn@1 is already archived"
    )
    for env in ("staging", "production"):
        entries = json.loads(cli("history", "--env", env, "-o", "json", "--repo", str(repo.root)).stdout)["entries"]
        assert (entries[0]["action"], entries[0]["model"], entries[0]["env"]) == (
            "retire",
            "churn",
            "production, staging",
        )
    table = cli("history", "-n", "1", "--repo", str(repo.root)).stdout.splitlines()[1].split()
    assert table[2:8] == ["Test", "User", "retire", "churn", "all", "production,"]


def test_retire_one_version_drops_it_where_it_is_a_candidate(cli: Any, repo: GitopsRepo) -> None:
    result = retire(cli, repo, "churn@2", "--direct", "--no-push")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Retire churn@2: out of staging, archive version 2"
    assert deployments(repo, STAGING) == {"churn": {"version": 1}, "fraud": {"version": 1}}
    assert deployments(repo, PRODUCTION) == {"churn": {"version": 1}}
    assert archived(repo) == [2]
    assert git(repo.root, "log", "-1", "--format=%(trailers:key=Version,valueonly)") == "2"
    assert git(repo.remote, "rev-parse", "main") != repo.head()


def test_comments_in_the_environment_files_survive(cli: Any, repo: GitopsRepo) -> None:
    path = repo.root / STAGING
    path.write_text(path.read_text().replace("  fraud:\n", "  # fraud: owned by the risk team\n  fraud:\n"))
    git(repo.root, "commit", "-qam", "A comment")
    assert retire(cli, repo, "churn", "--direct", "--no-push").code == 0
    assert "  # fraud: owned by the risk team\n  fraud:\n    version: 1\n" in repo.read(STAGING)
    assert repo.read(STAGING).startswith("# yaml-language-server: $schema=")


def test_retire_opens_one_pull_request_by_default(cli: Any, repo: GitopsRepo) -> None:
    result = retire(cli, repo, "churn@1", "--pr")
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: Refused by policy: churn@1 is the stable version in staging, beside 1 canary 2 at 20%; "
        "retiring it would leave the candidate serving alone",
        "hint: finish or drop the canary first: mlopsctl promote churn@2 --env staging, "
        "or mlopsctl rollback churn --env staging",
    ]
    assert cli("rollback", "churn", "--env", "staging", "--direct", "--repo", str(repo.root)).code == 0
    before = repo.head()
    result = retire(cli, repo, "churn@1")
    assert result.code == 0, result.stderr
    branch = "retire/churn-1"
    commit = git(repo.root, "rev-parse", branch)
    assert result.stdout.splitlines()[:3] == [
        "Retire churn@1: out of production, staging, archive version 1",
        f"  commit {commit[:12]} on the new branch {branch} ({PRODUCTION}, {STAGING}, {ARCHIVED})",
        "  pushed to origin",
    ]
    assert result.stdout.splitlines()[-2:] == [
        "Archived in the same commit: churn 1",
        "CI stops it when it merges (mlopsctl apply --env production; mlopsctl apply --env staging).",
    ]
    assert repo.head() == before  # the checked-out branch is untouched until the pull request merges
    assert git(repo.remote, "rev-parse", branch) == commit
    assert deployments(repo, STAGING, branch) == {"fraud": {"version": 1}}
    assert archived(repo, branch) == [1]


def test_dry_run_prints_every_diff_and_writes_nothing(cli: Any, repo: GitopsRepo) -> None:
    before = repo.head()
    result = retire(cli, repo, "churn", "--dry-run")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["", "Retire churn: out of production, staging, archive versions 1, 2, 3, 4"]
    assert lines[2] == "Commit on branch retire/churn, as a pull request"
    assert f"--- a/{PRODUCTION}" in lines and f"+++ b/{ARCHIVED}" in lines
    assert "-  churn:" in lines and "+deployments: {}" in lines
    assert lines[-1] == "dry run: nothing was written"
    assert repo.head() == before and git(repo.root, "branch", "--list", "retire/*") == ""


def test_unknown_model_or_version(cli: Any, repo: GitopsRepo) -> None:
    result = retire(cli, repo, "chrun")
    assert (result.code, result.stderr.splitlines()) == (
        1,
        [f"error: Not found: no model 'chrun' in {repo.root / 'models'}", "hint: did you mean 'churn'?"],
    )
    result = retire(cli, repo, "churn@9")
    assert result.code == 1
    assert result.stderr.splitlines()[0].startswith("error: Not found: churn@9 is not registered at ")
    assert result.stderr.splitlines()[1] == "hint: registered versions of churn: 1, 2, 3, 4"


def test_nothing_to_retire(cli: Any, repo: GitopsRepo) -> None:
    assert retire(cli, repo, "churn@3", "--direct", "--no-push").code == 0
    again = retire(cli, repo, "churn@3", "--direct", "--no-push")
    assert (again.code, again.stderr.strip()) == (
        1,
        "error: Nothing to change: churn@3 runs in no environment and is already archived; nothing to retire",
    )


def test_json_output(cli: Any, repo: GitopsRepo) -> None:
    result = retire(cli, repo, "fraud", "--direct", "--no-push", "-o", "json")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert (payload["action"], payload["model"], payload["envs"], payload["archived"]) == (
        "retire",
        "fraud",
        ["staging"],
        [1, 2, 3, 4],
    )
    assert payload["branch"] == "main" and payload["direct"] is True


def test_through_the_installed_entry_point(repo: GitopsRepo) -> None:
    result = run_cli_process("retire", "fraud@1", "--direct", "--no-push", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Retire fraud@1: out of staging, archive version 1"
    result = run_cli_process("retire", "fraud@1", "--repo", str(repo.root))
    assert (result.code, result.stderr.strip()) == (
        1,
        "error: Nothing to change: fraud@1 runs in no environment and is already archived; nothing to retire",
    )


def test_direct_refuses_uncommitted_edits_of_the_files_it_changes(cli: Any, repo: GitopsRepo) -> None:
    path = repo.root / PRODUCTION
    path.write_text(path.read_text() + "# draft\n")
    result = retire(cli, repo, "churn", "--direct")
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Conflict: {PRODUCTION}, {STAGING}, {ARCHIVED} have uncommitted changes in {repo.root}",
        "hint: commit or stash them first, so the retirement commit holds only the retirement",
    ]
