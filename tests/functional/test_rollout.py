"""``mlopsctl rollout`` where no metrics are needed yet: refusals, waiting, nothing to do.

The steps judged against a real served canary and a real Prometheus are in
tests/integration/test_rollout_prometheus.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.rollout import api
from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo
from tests.support.rollout_repo import commit_canary, set_rollout


@pytest.fixture
def repo(tmp_path: Path) -> GitopsRepo:
    return make_gitops_repo(tmp_path)


def rollout(cli: Any, repo: GitopsRepo, *args: str) -> Any:
    return cli("rollout", "--env", "staging", *args, "--repo", str(repo.root))


def test_a_weight_off_the_steps_is_refused_and_nothing_changes(cli: Any, repo: GitopsRepo) -> None:
    set_rollout(repo.root, steps=[5, 25, 50, 100])
    commit_canary(repo.root, "staging", 1, 2, 10)
    head = repo.head()
    result = rollout(cli, repo)
    assert result.code == 1
    assert "churn in staging: v1 + canary v2, 10%, not a step" in result.stdout
    assert (
        "refused: churn in staging runs a 10% canary, which is not a step of rollout.steps [5, 25, 50, 100] "
        "in models/churn/model.yaml; nothing changed"
    ) in " ".join(result.stdout.split())
    assert repo.head() == head


def test_a_step_above_the_canary_limit_is_a_spec_problem(cli: Any, repo: GitopsRepo) -> None:
    set_rollout(repo.root, steps=[10, 40, 75, 100])
    commit_canary(repo.root, "staging", 1, 2, 10)
    result = rollout(cli, repo, "-o", "json")
    assert result.code == 1
    (decision,) = json.loads(result.stdout)["decisions"]
    assert (decision["action"], decision["reason"]) == (
        "refused",
        "rollout.steps in models/churn/model.yaml has 75%, above promotion.max_canary_weight (50%): "
        "only 100 (the full promotion) may be",
    )


def test_a_young_step_waits_without_prometheus(cli: Any, repo: GitopsRepo) -> None:
    set_rollout(repo.root, min_interval="5m")
    commit_canary(repo.root, "staging", 1, 2, 25)
    head = repo.head()
    result = rollout(cli, repo, "-o", "json")
    assert result.code == 0, result.stderr
    (decision,) = json.loads(result.stdout)["decisions"]
    assert (decision["action"], decision["step"], decision["commit"]) == ("wait", "2/4", None)
    assert decision["reason"].startswith("step 2/4 (25%) has run ")
    assert "of rollout.min_interval 5m; judged in " in decision["reason"]
    assert repo.head() == head


def test_the_step_starts_at_the_commit_that_set_its_weight(repo: GitopsRepo) -> None:
    commit_canary(repo.root, "staging", 1, 2, 5)
    set_weight = git(repo.root, "rev-parse", "HEAD")
    set_rollout(repo.root, min_requests=50)  # a later commit that does not touch the environment
    (decision,) = api.judge_rollouts(repo.root, "staging").decisions
    assert decision.step is not None and decision.step.commit == set_weight


def test_no_canary_is_nothing_to_do(cli: Any, repo: GitopsRepo) -> None:
    result = rollout(cli, repo)
    assert (result.code, result.stdout) == (0, "No canary in staging: nothing to roll out.\n")


def test_a_model_without_a_rollout_block_is_left_to_hand_promotions(cli: Any, repo: GitopsRepo) -> None:
    commit_canary(repo.root, "staging", 1, 2, 10)
    head = repo.head()
    result = rollout(cli, repo)
    assert result.code == 0, result.stderr
    assert " ".join(result.stdout.split()) == (
        "churn in staging: v1 + canary v2, 10%, no rollout manual: models/churn/model.yaml declares no rollout "
        "block: this canary's weight changes by hand (mlopsctl promote churn@2 --env staging --weight PCT)"
    )
    assert repo.head() == head


def test_an_unknown_model_is_not_found(cli: Any, repo: GitopsRepo) -> None:
    commit_canary(repo.root, "staging", 1, 2, 5)
    result = rollout(cli, repo, "fraud")
    assert result.code == 1
    assert "nothing runs for fraud in staging" in result.stderr


def test_help_says_commits_go_straight_to_the_branch(cli: Any) -> None:
    result = cli("rollout", "--help")
    assert result.code == 0
    assert "Rollout commits go directly on the current branch" in result.stdout
    assert "3 Prometheus unreachable (paused: nothing committed)" in " ".join(result.stdout.split())
