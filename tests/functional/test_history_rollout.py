"""history shows what each ``mlopsctl rollout`` commit did: the step and weight, the promotion, the rollback and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.env_commits import commit_env, env_text, trailers
from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo, promote

REASON = "errors 2.10% > 1.00% for the canary v2 over 5m"


def _step(repo: GitopsRepo, weight: int, step: str, decision: str, candidate: int = 2) -> str:
    text = env_text(
        "staging", {"churn": {"version": 1, "strategy": "canary", "candidate": candidate, "weight": weight}}
    )
    fields = trailers(
        Action="promote", Model="churn", Version=str(candidate), Env="staging", Strategy="canary", Weight=str(weight)
    )
    rollout = trailers(Rollout_Step=step, Rollout_Decision=decision)
    message = f"Rollout churn@{candidate} in staging: step {step}, canary {weight}%\n\n{fields}\n{rollout}\n"
    return commit_env(repo.root, "staging", text, message)


@pytest.fixture
def repo(tmp_path: Path, cli: Any) -> GitopsRepo:
    """churn@1 in staging; a rollout of v2 advanced to 2/4 and rolled back; a rollout of v3 advanced then promoted."""
    made = make_gitops_repo(tmp_path)
    assert promote(cli, made, "churn@1", "--env", "staging", "--direct").code == 0
    _step(made, 25, "2/4", "advance")
    back = trailers(Action="rollback", Model="churn", Version="1", Env="staging", Strategy="replace")
    rolled = trailers(Rollout_Step="2/4", Rollout_Decision="rollback")
    message = f"Roll back churn in staging to v1\n\n{REASON}\nlatency p95 3.1 ms vs 3.4 ms\n\n{back}\n{rolled}\n"
    commit_env(made.root, "staging", env_text("staging", {"churn": {"version": 1}}), message)
    _step(made, 5, "1/4", "advance", candidate=3)
    done = trailers(Action="promote", Model="churn", Version="3", Env="staging", Strategy="replace")
    promoted = trailers(Rollout_Step="4/4", Rollout_Decision="promote")
    message = f"Rollout churn@3 in staging: promoted\n\n{done}\n{promoted}\n"
    commit_env(made.root, "staging", env_text("staging", {"churn": {"version": 3}}), message)
    return made


def test_rollout_commits_say_what_they_did_in_json(cli: Any, repo: GitopsRepo) -> None:
    result = cli("history", "churn", "--env", "staging", "-o", "json", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)["entries"]
    summary = [(e["action"], e["version"], e["rollout_step"], e["rollout_decision"], e["rollout"]) for e in found]
    assert summary == [
        ("promote", 3, "4/4", "promote", "rollout promoted"),
        ("promote", 3, "1/4", "advance", "rollout step 1/4: canary 5%"),
        ("rollback", 1, "2/4", "rollback", f"rollout rolled back: {REASON}"),
        ("promote", 2, "2/4", "advance", "rollout step 2/4: canary 25%"),
        ("promote", 1, None, None, None),
    ]


def test_the_table_shows_each_step_with_its_weight_and_the_rollback_with_its_reason(cli: Any, repo: GitopsRepo) -> None:
    result = cli("history", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    commits = git(repo.root, "rev-list", "--max-count=5", "HEAD").split()
    rows = [" ".join(line.split("Test User", 1)[1].split()) for line in lines[1:6]]
    assert rows == [
        f"rollout promoted churn v3 staging replace passed (2) {commits[0][:10]}",
        f"rollout step 1/4 churn v3 staging canary 5% passed (2) {commits[1][:10]}",
        f"rollout rolled back churn v1 staging replace passed (2) {commits[2][:10]}",
        f"rollout step 2/4 churn v2 staging canary 25% passed (2) {commits[3][:10]}",
        f"promote churn v1 staging replace none passed (2) {commits[4][:10]}",
    ]
    assert lines[6:] == [f"{commits[2][:10]} rollout rolled back: {REASON}"]


def test_an_unreadable_rollout_trailer_is_a_note_not_a_failure(cli: Any, repo: GitopsRepo) -> None:
    _step(repo, 50, "9/4", "sideways")
    result = cli("history", "--limit", "1", "-o", "json", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    (entry,) = json.loads(result.stdout)["entries"]
    assert (entry["rollout_step"], entry["rollout_decision"], entry["rollout"]) == (
        None,
        None,
        "rollout step: canary 50%",
    )
    assert entry["note"] == "unreadable Rollout-Step: '9/4', Rollout-Decision: 'sideways'"
