"""promote, rollback and archive through the CLI, on real repositories with a real bare remote.

The repository and its helpers (``write_record``, ``GitopsRepo``, ``make_gitops_repo``) are in
tests/support/gitops_repo.py, shared with the history and remote tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.gitops_repo import STAGING, GitopsRepo, git, make_gitops_repo, promote, write_record


@pytest.fixture
def repo(tmp_path: Path) -> GitopsRepo:
    return make_gitops_repo(tmp_path)


PRODUCTION = "environments/production.yaml"


# --------------------------------------------------------------------------- branch + pull request


def test_promote_commits_on_a_new_branch_and_pushes_it(cli: Any, repo: GitopsRepo) -> None:
    before = repo.head()
    result = promote(cli, repo, "churn@1", "--env", "staging")
    assert result.code == 0, result.stderr
    commit = git(repo.root, "rev-parse", "promote/churn-1-staging")
    assert result.stdout.splitlines() == [
        "Promote churn@1 to staging",
        f"  commit {commit[:12]} on the new branch promote/churn-1-staging (environments/staging.yaml)",
        "  pushed to origin",
        "To open the pull request: open one from promote/churn-1-staging into main on your git host",
    ]
    # the checked-out branch and the working tree are untouched; the remote has the branch
    assert repo.head() == before
    assert git(repo.root, "branch", "--show-current") == "main"
    assert "churn" not in yaml.safe_load(repo.read(STAGING))["deployments"]
    assert git(repo.remote, "rev-parse", "promote/churn-1-staging") == commit
    assert git(repo.root, "rev-parse", f"{commit}^") == before
    assert git(repo.root, "diff", "--name-only", before, commit) == STAGING
    pushed = yaml.safe_load(repo.remote_file(STAGING, "promote/churn-1-staging"))
    assert pushed["deployments"] == {"churn": {"version": 1}}


def test_commit_message_carries_the_trailers(cli: Any, repo: GitopsRepo) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct", "-m", "first release").code == 0
    assert promote(cli, repo, "churn@2", "--env", "staging", "--direct", "--weight", "20").code == 0
    message = git(repo.root, "log", "-1", "--format=%B")
    assert message == (
        "Promote churn@2 to staging as a 20% canary\n\n"
        "Action: promote\nModel: churn\nVersion: 2\nEnv: staging\nStrategy: canary\nWeight: 20\nPrevious: 1"
    )
    first = git(repo.root, "log", "-1", "--skip=1", "--format=%B")
    assert first.startswith("Promote churn@1 to staging\n\nfirst release\n\nAction: promote\n")
    trailers = git(repo.root, "log", "-1", "--format=%(trailers:key=Strategy,valueonly)")
    assert trailers == "canary"


def test_no_push_with_a_github_remote_prints_the_push_and_pull_request_steps(cli: Any, repo: GitopsRepo) -> None:
    git(repo.root, "remote", "set-url", "origin", "git@github.com:acme/churn-models.git")
    result = promote(cli, repo, "churn@1", "--env", "staging", "--no-push")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[2:] == [
        "To push it: git push origin promote/churn-1-staging:promote/churn-1-staging",
        "To open the pull request: "
        "https://github.com/acme/churn-models/compare/main...promote/churn-1-staging?expand=1",
        "  or: gh pr create --base main --head promote/churn-1-staging --fill",
    ]


def test_no_push_with_a_gitlab_remote_prints_the_push_that_opens_the_merge_request(cli: Any, repo: GitopsRepo) -> None:
    git(repo.root, "remote", "set-url", "origin", "https://gitlab.example.com/ml/team/churn-models.git")
    (repo.root / "mlops.yaml").write_text(repo.read("mlops.yaml").replace("provider: auto", "provider: gitlab"))
    result = promote(cli, repo, "churn@1", "--env", "staging", "--no-push")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[2:] == [
        "To push it: git push -o merge_request.create -o merge_request.target=main origin "
        "promote/churn-1-staging:promote/churn-1-staging",
    ]


def test_pushed_branch_without_a_token_prints_the_compare_url(cli: Any, repo: GitopsRepo, tmp_path: Path) -> None:
    # the remote is a local path; the settings say it is GitHub (as a mirror of it would be)
    (repo.root / "mlops.yaml").write_text(repo.read("mlops.yaml").replace("provider: auto", "provider: github"))
    git(repo.root, "commit", "-qam", "GitHub")
    result = promote(cli, repo, "churn@1", "--env", "staging")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[3:] == [
        "To open the pull request: gh pr create --base main --head promote/churn-1-staging --fill",
        "  (set GITHUB_TOKEN and mlopsctl opens it for you)",
    ]


def test_an_existing_branch_is_not_overwritten(cli: Any, repo: GitopsRepo) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging").code == 0
    result = promote(cli, repo, "churn@1", "--env", "staging")
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Conflict: a branch promote/churn-1-staging already exists in {repo.root}",
        "hint: this change is already prepared there; to start over: git branch -D promote/churn-1-staging",
    ]


def test_a_branch_already_on_the_remote_is_a_conflict(cli: Any, repo: GitopsRepo) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging").code == 0
    git(repo.root, "branch", "-D", "promote/churn-1-staging")
    git(repo.root, "commit", "-q", "--allow-empty", "-m", "something else first")
    result = promote(cli, repo, "churn@1", "--env", "staging")
    assert result.code == 1
    assert result.stderr.startswith(
        "error: Conflict: origin already has a branch promote/churn-1-staging that differs from this one:"
    )


def test_json_output(cli: Any, repo: GitopsRepo) -> None:
    result = cli("promote", "churn@1", "--env", "staging", "--direct", "-o", "json", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload == {
        "action": "promote",
        "model": "churn",
        "version": 1,
        "env": "staging",
        "strategy": "replace",
        "weight": None,
        "previous": "none",
        "file": STAGING,
        "commit": repo.head(),
        "branch": "main",
        "direct": True,
        "remote": "origin",
        "pushed": True,
        "push_attempts": 1,
        "pull_request": None,
        "compare_url": None,
        "next_steps": ["Pushed to origin main.", "CI applies it from main (mlopsctl apply --env staging)."],
    }


# --------------------------------------------------------------------------- direct


def test_direct_commits_on_the_current_branch_and_pushes(cli: Any, repo: GitopsRepo) -> None:
    result = promote(cli, repo, "churn@v3", "--env", "staging", "--direct")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Promote churn@3 to staging"
    assert git(repo.remote, "rev-parse", "main") == repo.head()
    assert repo.read(STAGING).endswith("base_port: 8100\ndeployments:\n  churn:\n    version: 3\n")
    assert repo.read(STAGING).startswith("# yaml-language-server: $schema=../schemas/environment.schema.json\n")
    assert git(repo.root, "status", "--porcelain") == ""


def test_direct_no_push_leaves_the_remote_alone(cli: Any, repo: GitopsRepo) -> None:
    remote_before = git(repo.remote, "rev-parse", "main")
    result = promote(cli, repo, "churn@1", "--env", "staging", "--direct", "--no-push")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "To push it: git push origin main"
    assert git(repo.remote, "rev-parse", "main") == remote_before
    assert repo.head() != remote_before


def test_direct_refuses_an_environment_file_with_uncommitted_edits(cli: Any, repo: GitopsRepo) -> None:
    path = repo.root / STAGING
    path.write_text(path.read_text() + "# my note\n")
    result = promote(cli, repo, "churn@1", "--env", "staging", "--direct")
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Conflict: environments/staging.yaml has uncommitted changes in {repo.root}",
        "hint: commit or stash them first, so the promotion commit holds only the promotion",
    ]
    assert path.read_text().endswith("# my note\n")


def test_hand_written_comments_survive_a_promotion(cli: Any, repo: GitopsRepo) -> None:
    path = repo.root / STAGING
    text = path.read_text().replace(
        "deployments: {}\n",
        "deployments:\n  # owned by the retention team\n  churn:\n    version: 1   # first one\n    port: 8105\n",
    )
    path.write_text(text)
    git(repo.root, "commit", "-qam", "hand edit")
    assert promote(cli, repo, "churn@2", "--env", "staging", "--direct", "--strategy", "shadow").code == 0
    assert path.read_text() == text.replace(
        "    port: 8105\n", "    port: 8105\n    strategy: shadow\n    candidate: 2\n"
    )


# --------------------------------------------------------------------------- canary and replace


def test_canary_then_replace_finishes_the_canary(cli: Any, repo: GitopsRepo) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct").code == 0
    assert promote(cli, repo, "churn@2", "--env", "staging", "--direct", "--strategy", "canary").code == 0
    assert yaml.safe_load(repo.read(STAGING))["deployments"]["churn"] == {
        "version": 1,
        "strategy": "canary",
        "candidate": 2,
        "weight": 10,
    }
    assert promote(cli, repo, "churn@2", "--env", "staging", "--direct", "--weight", "50").code == 0
    assert yaml.safe_load(repo.read(STAGING))["deployments"]["churn"]["weight"] == 50
    assert promote(cli, repo, "churn@2", "--env", "staging", "--direct").code == 0
    assert yaml.safe_load(repo.read(STAGING))["deployments"]["churn"] == {"version": 2}
    assert git(repo.root, "log", "-1", "--format=%(trailers:key=Previous,valueonly)") == "1 canary 2 at 50%"


# --------------------------------------------------------------------------- policy


def refused(result: Any, message: str, hint: str | None = None) -> None:
    assert result.code == 1, result.stdout
    lines = [f"error: Refused by policy: {message}"] + ([f"hint: {hint}"] if hint else [])
    assert result.stderr.splitlines() == lines


def test_a_version_that_failed_its_gates_is_refused(cli: Any, repo: GitopsRepo) -> None:
    before = repo.head()
    refused(
        promote(cli, repo, "churn@4", "--env", "staging"),
        "churn@4 failed its gates (roc_auc >= 0.75) and cannot be deployed",
        "train a version that passes the gates in models/churn/model.yaml",
    )
    assert repo.head() == before
    assert git(repo.root, "branch", "--list", "promote/*") == ""


def test_production_takes_only_versions_that_ran_in_staging(cli: Any, repo: GitopsRepo) -> None:
    refused(
        promote(cli, repo, "churn@1", "--env", "production"),
        "churn@1 has not run in staging; production takes only versions that ran in staging first",
        "promote it there first: mlopsctl promote churn@1 --env staging",
    )
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct").code == 0
    assert promote(cli, repo, "churn@2", "--env", "staging", "--direct").code == 0
    # churn@1 no longer runs in staging, but it did: the file's history counts
    assert promote(cli, repo, "churn@1", "--env", "production", "--direct").code == 0


def test_a_canary_in_staging_counts_as_having_run_there(cli: Any, repo: GitopsRepo) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct").code == 0
    assert promote(cli, repo, "churn@2", "--env", "staging", "--direct", "--weight", "5").code == 0
    assert promote(cli, repo, "churn@2", "--env", "production", "--direct").code == 0


def test_the_spec_can_drop_the_staging_requirement(cli: Any, repo: GitopsRepo) -> None:
    spec = repo.root / "models/churn/model.yaml"
    spec.write_text(spec.read_text().replace("    production: [staging]\n", "    production: []\n"))
    assert promote(cli, repo, "churn@1", "--env", "production", "--direct").code == 0


@pytest.mark.parametrize("weight", ["0", "51"])
def test_canary_weight_out_of_range(cli: Any, repo: GitopsRepo, weight: str) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct").code == 0
    refused(
        promote(cli, repo, "churn@2", "--env", "staging", "--weight", weight),
        f"canary weight {weight}% is out of range for churn: 1 to 50%",
        "the limit is promotion.max_canary_weight in models/churn/model.yaml",
    )


def test_a_canary_needs_a_stable_version(cli: Any, repo: GitopsRepo) -> None:
    refused(
        promote(cli, repo, "churn@2", "--env", "staging", "--weight", "20"),
        "nothing runs for churn in staging yet, and a canary needs a stable version to run beside",
        "promote a first version with --strategy replace",
    )


def test_weight_without_canary_is_a_usage_error(cli: Any, repo: GitopsRepo) -> None:
    result = promote(cli, repo, "churn@2", "--env", "staging", "--strategy", "shadow", "--weight", "20")
    assert result.code == 2
    assert result.stderr.strip() == "error: Usage error: --weight applies to --strategy canary only, not shadow"


def test_unknown_things_are_named(cli: Any, repo: GitopsRepo) -> None:
    result = promote(cli, repo, "churn@9", "--env", "staging")
    assert result.code == 1
    assert result.stderr.splitlines()[0].startswith("error: Not found: churn@9 is not registered at ")
    assert result.stderr.splitlines()[0].endswith("(registry/churn/v9.yaml is missing)")
    result = promote(cli, repo, "churn@1", "--env", "stagin")
    assert result.code == 1
    assert result.stderr.splitlines()[1] == "hint: environments here: production, staging"
    result = promote(cli, repo, "chrun@1", "--env", "staging")
    assert result.code == 1
    assert result.stderr.splitlines()[1] == "hint: did you mean 'churn'?"


def test_an_uncommitted_record_is_named(cli: Any, repo: GitopsRepo) -> None:
    write_record(repo.root, "churn", 7)
    result = promote(cli, repo, "churn@7", "--env", "staging")
    assert result.code == 1
    assert result.stderr.splitlines()[1] == "hint: commit registry/churn/v7.yaml first"


def test_promoting_what_already_runs_changes_nothing(cli: Any, repo: GitopsRepo) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct").code == 0
    result = promote(cli, repo, "churn@1", "--env", "staging", "--direct")
    assert result.code == 1
    assert (
        result.stderr.strip() == "error: Nothing to change: churn in staging already runs version 1; nothing to change"
    )


# --------------------------------------------------------------------------- rollback


def test_rollback_returns_to_the_version_that_ran_before(cli: Any, repo: GitopsRepo) -> None:
    for version in ("1", "3", "2"):
        assert promote(cli, repo, f"churn@{version}", "--env", "staging", "--direct").code == 0
    result = cli("rollback", "churn", "--env", "staging", "--direct", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Roll back churn in staging to version 3"
    assert yaml.safe_load(repo.read(STAGING))["deployments"]["churn"] == {"version": 3}
    message = git(repo.root, "log", "-1", "--format=%B")
    assert message.endswith("Action: rollback\nModel: churn\nVersion: 3\nEnv: staging\nStrategy: replace\nPrevious: 2")


def test_rollback_of_a_canary_drops_the_candidate(cli: Any, repo: GitopsRepo) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct").code == 0
    assert promote(cli, repo, "churn@2", "--env", "staging", "--direct", "--weight", "30").code == 0
    result = cli("rollback", "churn", "--env", "staging", "--direct", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    assert yaml.safe_load(repo.read(STAGING))["deployments"]["churn"] == {"version": 1}


def test_rollback_on_a_branch_by_default(cli: Any, repo: GitopsRepo) -> None:
    for version in ("1", "2"):
        assert promote(cli, repo, f"churn@{version}", "--env", "staging", "--direct").code == 0
    result = cli("rollback", "churn", "--env", "staging", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    assert git(repo.remote, "show", f"rollback/churn-1-staging:{STAGING}").endswith("  churn:\n    version: 1")


def test_rollback_to_a_version_that_never_ran_there_is_refused(cli: Any, repo: GitopsRepo) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct").code == 0
    refused(
        cli("rollback", "churn", "--env", "staging", "--to", "3", "--repo", str(repo.root)),
        "churn@3 never ran in staging; a rollback returns only to a version that ran there",
        "to deploy a new version there: mlopsctl promote churn@3 --env staging",
    )


def test_rollback_with_nothing_before(cli: Any, repo: GitopsRepo) -> None:
    result = cli("rollback", "churn", "--env", "staging", "--repo", str(repo.root))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: Not found: nothing runs for churn in staging",
        "hint: there is nothing to roll back",
    ]
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct").code == 0
    result = cli("rollback", "churn", "--env", "staging", "--repo", str(repo.root))
    assert result.stderr.strip() == (
        "error: Nothing to change: churn in staging has run only version 1: there is no earlier version to roll back to"
    )


# --------------------------------------------------------------------------- archive


def test_archive_adds_an_entry_and_blocks_promotions(cli: Any, repo: GitopsRepo) -> None:
    result = cli("archive", "churn@2", "--direct", "-m", "superseded by v3", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    data = yaml.safe_load(repo.read("registry/churn/archived.yaml"))
    assert [(e["version"], e["by"], e["reason"]) for e in data["archived"]] == [
        (2, "Test User <test@example.com>", "superseded by v3")
    ]
    assert repo.read("registry/churn/archived.yaml").startswith("# Archived versions of churn:")
    assert git(repo.root, "log", "-1", "--format=%s") == "Archive churn@2"
    refused(
        promote(cli, repo, "churn@2", "--env", "staging"),
        "churn@2 is archived and cannot be deployed",
        "archived versions are kept for lineage only; promote a newer version",
    )
    assert cli("archive", "churn@1", "--direct", "--repo", str(repo.root)).code == 0
    versions = [e["version"] for e in yaml.safe_load(repo.read("registry/churn/archived.yaml"))["archived"]]
    assert versions == [2, 1]
    again = cli("archive", "churn@1", "--direct", "--repo", str(repo.root))
    assert again.code == 1
    assert again.stderr.strip() == "error: Nothing to change: churn@1 is already archived"


def test_archive_is_refused_while_an_environment_runs_the_version(cli: Any, repo: GitopsRepo) -> None:
    assert promote(cli, repo, "churn@1", "--env", "staging", "--direct").code == 0
    assert promote(cli, repo, "churn@2", "--env", "staging", "--direct", "--strategy", "shadow").code == 0
    refused(
        cli("archive", "churn@2", "--repo", str(repo.root)),
        "churn@2 still runs in staging (as the shadow version); an archived version must run nowhere",
        "move staging to another version first (mlopsctl promote or mlopsctl rollback)",
    )


def test_archive_on_a_branch(cli: Any, repo: GitopsRepo) -> None:
    result = cli("archive", "churn@3", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    assert "archived:\n- version: 3\n" in git(repo.remote, "show", "archive/churn-3:registry/churn/archived.yaml")


# --------------------------------------------------------------------------- validate catches hand edits


def test_validate_refuses_a_hand_edited_environment_naming_a_failed_version(cli: Any, repo: GitopsRepo) -> None:
    path = repo.root / STAGING
    path.write_text(path.read_text().replace("deployments: {}\n", "deployments:\n  churn:\n    version: 4\n"))
    result = cli("validate", "--repo", str(repo.root))
    assert result.code == 1
    line = path.read_text().splitlines().index("    version: 4") + 1
    assert result.stdout.splitlines()[0] == (
        f"environments/staging.yaml:{line}:14: deployments.churn.version: "
        "churn@4 failed its gates (roc_auc >= 0.75) and cannot be deployed"
    )
