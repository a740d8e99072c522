"""history: the audit log read back from commit trailers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.deploy.desired import read_environments
from mlopsctl.gitops.history import read_history
from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo


@pytest.fixture
def repo(tmp_path: Path, cli: Any) -> GitopsRepo:
    """churn and fraud promoted, rolled back and archived, with an unrelated commit in between."""
    made = make_gitops_repo(tmp_path, models=("churn", "fraud"))
    steps = [
        ("promote", "churn@1", "--env", "staging"),
        ("promote", "fraud@1", "--env", "staging"),
        ("promote", "churn@1", "--env", "production"),
        ("promote", "churn@2", "--env", "staging", "--weight", "20"),
        ("promote", "churn@2", "--env", "staging"),
        ("rollback", "churn", "--env", "staging"),
        ("archive", "fraud@3"),
    ]
    for i, step in enumerate(steps):
        result = cli(*step, "--direct", "--repo", str(made.root))
        assert result.code == 0, result.stderr
        if i == 2:
            git(made.root, "commit", "-q", "--allow-empty", "-m", "Unrelated change\n\nModel: churn")
    return made


def history(cli: Any, repo: GitopsRepo, *args: str) -> list[dict[str, Any]]:
    result = cli("history", *args, "-o", "json", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    entries: list[dict[str, Any]] = json.loads(result.stdout)["entries"]
    return entries


def summary(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["action"], e["model"], e["version"], e["env"], e["strategy"], e["weight"], e["previous"]) for e in entries
    ]


def test_history_lists_every_action_newest_first(cli: Any, repo: GitopsRepo) -> None:
    assert summary(history(cli, repo)) == [
        ("archive", "fraud", 3, None, None, None, None),
        ("rollback", "churn", 1, "staging", "replace", None, "2"),
        ("promote", "churn", 2, "staging", "replace", None, "1 canary 2 at 20%"),
        ("promote", "churn", 2, "staging", "canary", 20, "1"),
        ("promote", "churn", 1, "production", "replace", None, "none"),
        ("promote", "fraud", 1, "staging", "replace", None, "none"),
        ("promote", "churn", 1, "staging", "replace", None, "none"),
    ]


def test_each_entry_says_who_when_and_the_gate_results(cli: Any, repo: GitopsRepo) -> None:
    entry = history(cli, repo)[-1]
    assert entry["author"] == "Test User"
    assert entry["email"] == "test@example.com"
    assert entry["commit"] == git(repo.root, "rev-list", "--max-parents=1", "--reverse", "HEAD").split()[2]
    assert entry["date"] == git(repo.root, "log", "-1", "--format=%aI", entry["commit"])
    assert entry["subject"] == "Promote churn@1 to staging"
    assert entry["gates_passed"] is True
    assert entry["gates"] == [
        {"gate": "roc_auc >= 0.75", "value": 0.91, "passed": True},
        {"gate": "p95_latency_ms <= 50", "value": 12.5, "passed": True},
    ]


def test_filters_by_environment_and_model_and_limit(cli: Any, repo: GitopsRepo) -> None:
    assert [e["env"] for e in history(cli, repo, "--env", "production")] == ["production"]
    assert {e["model"] for e in history(cli, repo, "fraud")} == {"fraud"}
    assert len(history(cli, repo, "fraud")) == 2
    assert summary(history(cli, repo, "churn", "--env", "staging", "--limit", "2")) == [
        ("rollback", "churn", 1, "staging", "replace", None, "2"),
        ("promote", "churn", 2, "staging", "replace", None, "1 canary 2 at 20%"),
    ]
    assert history(cli, repo, "nosuch") == []


def test_commits_without_an_action_trailer_are_not_in_the_log(cli: Any, repo: GitopsRepo) -> None:
    subjects = [e["subject"] for e in history(cli, repo, "churn", "--limit", "0")]
    assert "Unrelated change" not in subjects
    assert len(subjects) == 5


def test_history_table(cli: Any, repo: GitopsRepo) -> None:
    result = cli("history", "churn", "--env", "production", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == [
        "when",
        "who",
        "action",
        "model",
        "version",
        "env",
        "strategy",
        "before",
        "gates",
        "commit",
    ]
    commit = git(repo.root, "log", "-1", "--format=%h", "--abbrev=10", "--grep=Env: production")
    assert row.split()[2:] == f"Test User promote churn v1 production replace none passed (2) {commit}".split()


def test_history_of_a_repository_without_actions(cli: Any, tmp_path: Path) -> None:
    made = make_gitops_repo(tmp_path)
    result = cli("history", "--repo", str(made.root))
    assert result.code == 0
    assert result.stdout.strip() == "no promotions, rollbacks or archives in the history yet"


def test_history_reads_a_failed_gate_from_the_record(repo: GitopsRepo) -> None:
    # a hand commit that names a failed version with trailers still shows its gate results
    git(repo.root, "commit", "-q", "--allow-empty", "-m", "Hand promotion\n\nAction: promote\nModel: churn\nVersion: 4")
    entry = read_history(repo.root, model="churn", limit=1)[0]
    assert (entry.version, entry.gates_passed) == (4, False)
    assert [g.gate for g in entry.gates if not g.passed] == ["roc_auc >= 0.75"]


def test_desired_state_is_read_from_a_commit(repo: GitopsRepo) -> None:
    envs = read_environments(repo.root)
    assert sorted(envs) == ["production", "staging"]
    assert envs["staging"].deployments["churn"].version == 1
    assert envs["staging"].deployments["fraud"].version == 1
    # an uncommitted edit is not desired state
    path = repo.root / "environments/staging.yaml"
    path.write_text(path.read_text().replace("version: 1", "version: 3"))
    assert read_environments(repo.root)["staging"].deployments["churn"].version == 1
