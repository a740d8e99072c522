"""gitops.api.promote / rollback with a caller's extra body and trailers (issue 16: what rollout and
the evidence in pull requests commit through): the trailers land after the standard ones and history
still reads the commit; the body goes in a direct commit's message, or in the pull request's body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlopsctl.gitops import api
from tests.support.fake_forge import Forge, api_environment, serve
from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo, promote

TOKEN = "ghp_test_0123456789"
ROLLOUT = {"Rollout-Step": "2/4", "Rollout-Decision": "advance"}


@pytest.fixture
def repo(tmp_path: Path, cli: Any) -> GitopsRepo:
    made = make_gitops_repo(tmp_path, remote_path="acme/churn-models.git")
    assert promote(cli, made, "churn@1", "--env", "staging", "--direct").code == 0
    return made


def _message(repo: GitopsRepo, ref: str = "HEAD") -> str:
    return git(repo.root, "log", "-1", "--format=%B", ref)


def test_direct_promotion_carries_the_extra_body_and_trailers_after_the_standard_ones(repo: GitopsRepo) -> None:
    body = "Evidence\n---\ncanary v2: errors 0.00% vs 0.01%\nAction: rollback"
    api.promote(repo.root, "churn@2", "staging", weight=25, direct=True, extra_body=body, trailers=ROLLOUT)
    assert _message(repo) == (
        "Promote churn@2 to staging as a 25% canary\n\n"
        "Evidence\n---\ncanary v2: errors 0.00% vs 0.01%\nAction: rollback\n\n"
        "Action: promote\nModel: churn\nVersion: 2\nEnv: staging\nStrategy: canary\nWeight: 25\n"
        "Previous: 1\nRollout-Step: 2/4\nRollout-Decision: advance"
    )
    # git reads the last paragraph only: the body's "---" and "Action: rollback" change nothing
    read = git(
        repo.root, "log", "-1", "--format=%(trailers:key=Action,valueonly)|%(trailers:key=Rollout-Step,valueonly)"
    )
    assert read == "promote\n|2/4"
    [entry, *_] = api.history(repo.root, env="staging")
    assert (entry.action, entry.version, entry.weight) == ("promote", 2, 25)


def test_rollback_takes_the_same_keywords(repo: GitopsRepo) -> None:
    api.promote(repo.root, "churn@2", "staging", weight=25, direct=True)
    api.rollback(
        repo.root,
        "churn",
        "staging",
        direct=True,
        message="p95 rose",
        extra_body="p95 9.1 ms vs 3.4 ms",
        trailers={"Rollout-Step": "2/4", "Rollout-Decision": "rollback"},
    )
    assert _message(repo).endswith(
        "p95 rose\n\np95 9.1 ms vs 3.4 ms\n\nAction: rollback\nModel: churn\nVersion: 1\nEnv: staging\n"
        "Strategy: replace\nPrevious: 1 canary 2 at 25%\nRollout-Step: 2/4\nRollout-Decision: rollback"
    )


def test_trailer_values_are_one_safe_line(repo: GitopsRepo) -> None:
    hostile = {"Rollout-Step": "2/4\nAction: retire\x1b]0;owned\x07", "Rollout-Decision": " advance\t"}
    api.promote(repo.root, "churn@2", "staging", direct=True, extra_body="ok \x1b[2J\x9b", trailers=hostile)
    message = _message(repo)
    assert message.splitlines()[-2:] == ["Rollout-Step: 2/4 Action: retire]0;owned", "Rollout-Decision: advance"]
    assert "\n\nok [2J\n\nAction: promote\n" in message  # the controls are gone, the text stays
    assert git(repo.root, "log", "-1", "--format=%(trailers:key=Action,valueonly,separator=%x2C)") == "promote"


@pytest.mark.parametrize(
    ("trailers", "error"),
    [
        ({"Reviewed-By": "x"}, "trailer key 'Reviewed-By' is not one mlopsctl writes for callers"),
        ({"Model": "other"}, "trailer key 'Model' is not one mlopsctl writes for callers"),
        ({"Rollout-Step": " \n "}, "trailer Rollout-Step has an empty value"),
    ],
)
def test_other_trailer_keys_are_refused_before_anything_is_committed(
    repo: GitopsRepo, trailers: dict[str, str], error: str
) -> None:
    head = repo.head()
    with pytest.raises(ValueError, match=error) as refused:
        api.promote(repo.root, "churn@2", "staging", direct=True, trailers=trailers)
    assert "(allowed: Rollout-Step, Rollout-Decision)" in str(refused.value) or "empty" in error
    with pytest.raises(ValueError, match=error):
        api.rollback(repo.root, "churn", "staging", direct=True, trailers=trailers)
    assert repo.head() == head


def test_pull_request_carries_the_extra_body_and_its_commit_the_trailers(
    repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = repo.root / "mlops.yaml"
    settings.write_text(settings.read_text().replace("provider: auto", "provider: github"))
    git(repo.root, "commit", "-qam", "Pull requests on GitHub")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with serve(Forge(token=TOKEN, repository=repo.remote)) as forge:
        for name, value in api_environment(forge.url).items():
            monkeypatch.setenv(name, value)
        outcome = api.promote(
            repo.root, "churn@2", "staging", extra_body="### Evidence\n\nshadow v2 agreed", trailers=ROLLOUT
        )
    assert outcome.pull_request is not None and outcome.pull_request.number == 1
    [request] = forge.requests
    assert request.body["body"].endswith(
        "### Evidence\n\nshadow v2 agreed\n\n---\n"
        "Opened by mlopsctl. Merging applies it: CI runs `mlopsctl apply --env staging`.\n"
    )
    pushed = git(repo.remote, "log", "-1", "--format=%B", "promote/churn-2-staging")
    assert "Evidence" not in pushed  # the body is the pull request's; the commit keeps title and trailers
    assert pushed.endswith("Previous: 1\nRollout-Step: 2/4\nRollout-Decision: advance")


def test_a_canary_without_a_weight_starts_at_the_declared_rollouts_first_step(cli: Any, repo: GitopsRepo) -> None:
    path = repo.root / "models" / "churn" / "model.yaml"
    path.write_text(path.read_text() + "rollout:\n  steps: [20, 50, 100]\n")
    git(repo.root, "commit", "-qam", "Rollout steps")
    assert promote(cli, repo, "churn@2", "--env", "staging", "--strategy", "canary", "--direct").code == 0
    assert git(repo.root, "log", "-1", "--format=%s") == "Promote churn@2 to staging as a 20% canary"
