"""``promote --dry-run`` and ``rollback --dry-run``: the dashboard's preview, printed, with nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlopsctl.gitops import api
from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo
from tests.support.tui_repo import build_tui_repo

STAGING = "environments/staging.yaml"


@pytest.fixture
def repo(tmp_path: Any) -> GitopsRepo:
    return make_gitops_repo(tmp_path)


def refs(repo: GitopsRepo) -> tuple[str, str, str, str]:
    """Everything a promotion could write: HEAD, the local and remote branches, the working tree."""
    return (
        repo.head(),
        git(repo.root, "for-each-ref", "--format=%(refname)"),
        git(repo.remote, "for-each-ref", "--format=%(refname)"),
        git(repo.root, "status", "--porcelain"),
    )


def test_promote_dry_run_prints_gates_destination_and_diff_and_writes_nothing(cli: Any, repo: GitopsRepo) -> None:
    before = refs(repo)
    result = cli("promote", "churn@1", "--env", "staging", "--dry-run", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "Gate checks",
        "  ✓ roc_auc >= 0.75  (measured 0.910)",
        "  ✓ p95_latency_ms <= 50  (measured 12.500)",
    ]
    assert lines[4:6] == [
        "Promote churn@1 to staging",
        "Commit on branch promote/churn-1-staging, as a pull request",
    ]
    assert f"--- a/{STAGING}" in lines and f"+++ b/{STAGING}" in lines
    assert "+  churn:" in lines and "+    version: 1" in lines
    assert lines[-1] == "dry run: nothing was written"
    assert refs(repo) == before


def test_promote_dry_run_refused_by_policy_exits_1_with_the_reason(cli: Any, repo: GitopsRepo) -> None:
    before = refs(repo)
    result = cli("promote", "churn@4", "--env", "staging", "--dry-run", "--direct", "--repo", str(repo.root))
    assert result.code == 1
    assert result.stdout.splitlines() == [
        "Gate checks",
        "  ✗ roc_auc >= 0.75  (measured 0.620)",
        "  ✓ p95_latency_ms <= 50  (measured 12.500)",
        "✗ churn@4 failed its gates (roc_auc >= 0.75) and cannot be deployed",
        "hint: train a version that passes the gates in models/churn/model.yaml",
    ]
    assert refs(repo) == before


def test_promote_dry_run_json_is_the_api_preview(cli: Any, repo: GitopsRepo) -> None:
    assert cli("promote", "churn@1", "--env", "staging", "--direct", "--no-push", "--repo", str(repo.root)).code == 0
    result = cli(
        "promote",
        "churn@2",
        "--env",
        "staging",
        "--weight",
        "5",
        "--direct",
        "--dry-run",
        "-o",
        "json",
        "--repo",
        str(repo.root),
    )
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    preview = api.preview_promote(repo.root, "churn@2", "staging", weight=5, direct=True)
    assert payload == json.loads(json.dumps(preview.to_dict()))
    assert payload["allowed"] is True and payload["branch"] == "direct" and payload["refused"] is None
    assert payload["title"] == "Promote churn@2 to staging as a 5% canary"
    assert payload["path"] == STAGING and payload["before"] == repo.read(STAGING)
    assert payload["gates"][0] == {"gate": "roc_auc >= 0.75", "value": 0.91, "passed": True}


def test_rollback_dry_run_shows_the_version_it_returns_to(cli: Any, repo: GitopsRepo) -> None:
    for ref in ("churn@1", "churn@2"):
        assert cli("promote", ref, "--env", "staging", "--direct", "--no-push", "--repo", str(repo.root)).code == 0
    before = refs(repo)
    result = cli("rollback", "churn", "--env", "staging", "--dry-run", "-o", "json", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["title"] == "Roll back churn in staging to version 1"
    assert payload["branch"] == "rollback/churn-1-staging"
    assert "-    version: 2" in payload["diff"].splitlines() and "+    version: 1" in payload["diff"].splitlines()
    assert refs(repo) == before


def test_rollback_dry_run_to_a_version_that_never_ran_is_refused(cli: Any, repo: GitopsRepo) -> None:
    assert cli("promote", "churn@2", "--env", "staging", "--direct", "--no-push", "--repo", str(repo.root)).code == 0
    result = cli("rollback", "churn", "--env", "staging", "--to", "1", "--dry-run", "--repo", str(repo.root))
    assert result.code == 1
    assert "✗ churn@1 never ran in staging; a rollback returns only to a version that ran there" in result.stdout


def test_preview_promote_reads_head_not_the_working_tree(tmp_path: Any) -> None:
    root = build_tui_repo(tmp_path / "repo")
    committed = (root / STAGING).read_text()
    (root / STAGING).write_text("not: [yaml")  # an uncommitted edit: previews, like promotions, read HEAD
    preview = api.preview_promote(root, "churn@2", "staging")
    assert preview.allowed and preview.before == committed
    assert "+    version: 2" in preview.diff.splitlines() and "-    version: 1" in preview.diff.splitlines()
