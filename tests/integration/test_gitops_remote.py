"""Promotions against real remotes: pull requests on a loopback GitHub/GitLab, and concurrent pushes.

The remote is a real bare repository; the pull-request API is ``fake_forge`` on 127.0.0.1, which
checks method, path, headers and body as GitHub's and GitLab's documentation specify. Concurrency
is tested with real processes: ten clones promoting at once against one bare remote.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.gitops.operations import Promote
from mlopsctl.gitops.publish import publish
from mlopsctl.spec.loader import scan_repo
from tests.support.fake_forge import Forge, api_environment, serve
from tests.support.gitops_repo import GitopsRepo, add_model, git, make_gitops_repo

TOKEN = "ghp_test_0123456789"
STAGING = "environments/staging.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> GitopsRepo:
    return make_gitops_repo(tmp_path, remote_path="acme/churn-models.git")


def configure(
    repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch, provider: str, api_url: str, token_env: str | None = None
) -> None:
    """The repository names the provider; the user (here: the environment) names the API and the token variable."""
    settings = repo.root / "mlops.yaml"
    settings.write_text(settings.read_text().replace("provider: auto", f"provider: {provider}"))
    git(repo.root, "commit", "-qam", f"Pull requests on {provider}")
    for name, value in api_environment(api_url, token_env).items():
        monkeypatch.setenv(name, value)


# --------------------------------------------------------------------------- GitHub


def test_promote_opens_a_github_pull_request(cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with serve(Forge(token=TOKEN, repository=repo.remote)) as forge:
        configure(repo, monkeypatch, "github", forge.url)
        result = cli("promote", "churn@1", "--env", "staging", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Pull request #1: https://github.com/acme/churn-models/pull/1"
    [request] = forge.requests
    assert (request.method, request.path) == ("POST", "/repos/acme/churn-models/pulls")
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("mlopsctl/")
    body = request.body
    assert set(body) == {"title", "head", "base", "body"}
    assert (body["title"], body["head"], body["base"]) == (
        "Promote churn@1 to staging",
        "promote/churn-1-staging",
        "main",
    )
    text = body["body"]
    assert text.startswith("## Promote churn@1 to staging\n")
    assert "| Model | `churn` |\n| Version | 1 |\n| Environment | staging |\n| Strategy | replace |\n" in text
    assert "| `roc_auc >= 0.75` | 0.91 | passed |\n| `p95_latency_ms <= 50` | 12.5 | passed |\n" in text
    assert "All gates passed." in text
    # the plan section comes from the deploy module's plan of staging with this change applied
    plan = text.split("### Plan for staging\n\n", 1)[1]
    assert "churn" in plan and "**1 to start, 0 in sync.**" in plan
    # the head branch the pull request names really is on the remote
    assert git(repo.remote, "rev-parse", "promote/churn-1-staging") == git(
        repo.root, "rev-parse", "promote/churn-1-staging"
    )


def test_a_plan_provider_fills_the_plan_section(repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with serve(Forge(token=TOKEN, repository=repo.remote)) as forge:
        configure(repo, monkeypatch, "github", forge.url)
        loaded = scan_repo(repo.root)
        op = Promote(spec=loaded.models["churn"], version=2, env="staging")
        outcome = publish(
            repo.root,
            loaded.settings.git,
            op,
            plan=lambda env, desired: f"start churn@{desired.deployments['churn'].version} in {env}",
        )
    assert outcome.pull_request is not None and outcome.pull_request.number == 1
    assert "### Plan for staging\n\nstart churn@2 in staging\n" in forge.requests[0].body["body"]


def test_bad_credentials_are_reported_with_the_way_to_open_it_by_hand(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    with serve(Forge(token=TOKEN, repository=repo.remote)) as forge:
        configure(repo, monkeypatch, "github", forge.url)
        result = cli("promote", "churn@1", "--env", "staging", "--repo", str(repo.root))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Pull request not opened: POST {forge.url}/repos/acme/churn-models/pulls answered 401: "
        "Bad credentials (the branch promote/churn-1-staging is pushed)",
        "hint: open it by hand: a pull request from promote/churn-1-staging into main",
    ]
    assert git(repo.remote, "rev-parse", "--verify", "promote/churn-1-staging")


def test_an_unreachable_api_exits_3(cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure(repo, monkeypatch, "github", f"http://127.0.0.1:{port}")
    result = cli("promote", "churn@1", "--env", "staging", "--repo", str(repo.root))
    assert result.code == 3
    assert result.stderr.startswith(
        f"error: Git remote unreachable: POST http://127.0.0.1:{port}/repos/acme/churn-models/pulls failed: "
    )
    assert "(the branch promote/churn-1-staging is pushed)" in result.stderr


# --------------------------------------------------------------------------- GitLab


def test_promote_opens_a_gitlab_merge_request(cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_GITLAB_TOKEN", TOKEN)
    with serve(Forge(token=TOKEN, repository=repo.remote)) as forge:
        configure(repo, monkeypatch, "gitlab", f"{forge.url}/api/v4", token_env="ACME_GITLAB_TOKEN")
        assert cli("promote", "churn@1", "--env", "staging", "--direct", "--repo", str(repo.root)).code == 0
        result = cli("promote", "churn@2", "--env", "staging", "--weight", "25", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Pull request #1: https://gitlab.com/acme/churn-models/-/merge_requests/1"
    [request] = forge.requests
    assert (request.method, request.path) == ("POST", "/api/v4/projects/acme%2Fchurn-models/merge_requests")
    assert request.headers["private-token"] == TOKEN
    assert "authorization" not in request.headers
    assert request.headers["content-type"] == "application/json"
    body = request.body
    assert set(body) == {"source_branch", "target_branch", "title", "description", "remove_source_branch"}
    assert body["source_branch"] == "promote/churn-2-staging"
    assert body["target_branch"] == "main"
    assert body["title"] == "Promote churn@2 to staging as a 25% canary"
    assert body["remove_source_branch"] is True
    assert "| Strategy | canary, 25% of requests |\n| Before | 1 |\n" in body["description"]


def test_an_open_merge_request_for_the_branch_is_reported(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with serve(Forge(token=TOKEN, repository=repo.remote)) as forge:
        configure(repo, monkeypatch, "gitlab", f"{forge.url}/api/v4")
        assert cli("promote", "churn@1", "--env", "staging", "--repo", str(repo.root)).code == 0
        git(repo.root, "branch", "-D", "promote/churn-1-staging")
        git(repo.root, "push", "-q", "origin", "--delete", "promote/churn-1-staging")
        result = cli("promote", "churn@1", "--env", "staging", "--repo", str(repo.root))
    assert result.code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: Pull request not opened: POST {forge.url}/api/v4/projects/acme%2Fchurn-models/merge_requests "
        "answered 409: Another open merge request already exists for this source branch: !1 "
        "(the branch promote/churn-1-staging is pushed)"
    )
    assert len(forge.requests) == 2


# --------------------------------------------------------------------------- races on one remote


# The core call in a fresh process, with the CLI's error line and exit code. (The CLI itself imports
# every command module, seconds per process on a loaded machine; what is raced here is the core.)
PROMOTE_PROCESS = """
import sys
from pathlib import Path
from mlopsctl.errors import MlopsError
from mlopsctl.gitops.api import promote
try:
    outcome = promote(Path.cwd(), sys.argv[1], "staging", direct=True)
except MlopsError as exc:
    print(f"error: {exc.title}: {exc.message}", file=sys.stderr)
    sys.exit(int(exc.exit_code))
print(outcome.commit, outcome.attempts)
"""


def start_promotions(refs: list[str], clones: list[Path]) -> list[tuple[int, str, str]]:
    """Start every promotion at once, one process per clone; wait for all."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROMOTE_PROCESS, ref],
            cwd=where,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ref, where in zip(refs, clones, strict=True)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append((proc.returncode, out, err))
    return results


def clone(repo: GitopsRepo, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(repo.remote), str(where))
    return where


def test_a_stale_clone_promoting_another_model_lands_after_a_retry(cli: Any, tmp_path: Path) -> None:
    made = make_gitops_repo(tmp_path, models=("churn", "fraud"))
    other = clone(made, tmp_path / "other")
    assert cli("promote", "churn@1", "--env", "staging", "--direct", "--repo", str(made.root)).code == 0
    result = cli("promote", "fraud@2", "--env", "staging", "--direct", "--repo", str(other))
    assert result.code == 0, result.stderr
    assert "  pushed to origin after 2 attempts" in result.stdout.splitlines()
    landed = yaml.safe_load(made.remote_file(STAGING))["deployments"]
    assert landed == {"churn": {"version": 1}, "fraud": {"version": 2}}
    assert git(other, "status", "--porcelain") == ""
    assert git(other, "rev-parse", "HEAD") == git(made.remote, "rev-parse", "main")


def test_the_same_deployment_changed_upstream_is_a_real_conflict(cli: Any, tmp_path: Path) -> None:
    made = make_gitops_repo(tmp_path)
    other = clone(made, tmp_path / "other")
    before = git(other, "rev-parse", "HEAD")
    assert cli("promote", "churn@1", "--env", "staging", "--direct", "--repo", str(made.root)).code == 0
    remote_tip = git(made.remote, "rev-parse", "main")
    result = cli("promote", "churn@2", "--env", "staging", "--direct", "--repo", str(other))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: Conflict: environments/staging.yaml changed on origin/main while this promote was being pushed: "
        "churn in staging is now 1 (was none); nothing was pushed",
        "hint: look at the new state (git pull origin main) and run the command again if it still applies",
    ]
    assert git(made.remote, "rev-parse", "main") == remote_tip
    assert git(other, "rev-parse", "HEAD") == before
    assert git(other, "status", "--porcelain") == ""


def test_a_conflicting_local_commit_aborts_the_rebase_cleanly(cli: Any, tmp_path: Path) -> None:
    made = make_gitops_repo(tmp_path, models=("churn", "fraud"))
    other = clone(made, tmp_path / "other")
    staging = other / STAGING
    staging.write_text(staging.read_text().replace("deployments: {}", "deployments: {}  # reviewed by B"))
    git(other, "commit", "-qam", "B's unpushed note")
    hand_commit = git(other, "rev-parse", "HEAD")
    assert cli("promote", "churn@1", "--env", "staging", "--direct", "--repo", str(made.root)).code == 0
    result = cli("promote", "fraud@1", "--env", "staging", "--direct", "--repo", str(other))
    assert result.code == 1
    assert result.stderr.splitlines()[0] == (
        "error: Conflict: rebasing onto origin/main conflicts in environments/staging.yaml; "
        "the rebase was aborted and nothing was pushed"
    )
    assert git(other, "rev-parse", "HEAD") == hand_commit
    assert not (other / ".git" / "rebase-merge").exists() and not (other / ".git" / "rebase-apply").exists()
    assert git(other, "status", "--porcelain") == ""


def test_other_unpushed_commits_are_rebased_and_pushed_along(cli: Any, tmp_path: Path) -> None:
    made = make_gitops_repo(tmp_path, models=("churn", "fraud"))
    other = clone(made, tmp_path / "other")
    (other / "NOTES.md").write_text("team notes\n")
    git(other, "add", "NOTES.md")
    git(other, "commit", "-qm", "Notes")
    assert cli("promote", "churn@1", "--env", "staging", "--direct", "--repo", str(made.root)).code == 0
    result = cli("promote", "churn@2", "--env", "production", "--direct", "--repo", str(other))
    assert result.code == 1  # churn@2 never ran in staging
    result = cli("promote", "fraud@1", "--env", "production", "--direct", "--repo", str(other))
    assert result.code == 1
    spec = other / "models/fraud/model.yaml"
    spec.write_text(spec.read_text().replace("    production: [staging]\n", "    production: []\n"))
    git(other, "commit", "-qam", "fraud goes straight to production")
    result = cli("promote", "fraud@1", "--env", "production", "--direct", "--repo", str(other))
    assert result.code == 0, result.stderr
    subjects = git(made.remote, "log", "--format=%s", "main").splitlines()
    assert subjects[:4] == [
        "Promote fraud@1 to production",
        "fraud goes straight to production",
        "Notes",
        "Promote churn@1 to staging",
    ]


@pytest.mark.slow
def test_ten_clones_promoting_at_once_all_land(tmp_path: Path) -> None:
    models = tuple(f"model-{i}" for i in range(10))
    made = make_gitops_repo(tmp_path, models=("churn", *models[1:]), versions=1)
    names = ("churn", *models[1:])
    clones = [clone(made, tmp_path / f"clone-{i}") for i in range(10)]
    results = start_promotions([f"{name}@1" for name in names], clones)
    assert [(code, err) for code, _, err in results if code] == []
    deployed = yaml.safe_load(made.remote_file(STAGING))["deployments"]
    assert deployed == {name: {"version": 1} for name in names}
    promoted = git(made.remote, "log", "--format=%(trailers:key=Model,valueonly)", "main").split()
    assert sorted(promoted) == sorted(names)
    for where in clones:  # every clone's reported commit is in the remote's history: nothing lost
        assert git(made.remote, "merge-base", "--is-ancestor", git(where, "rev-parse", "HEAD"), "main") == ""
    fsck = subprocess.run(["git", "fsck", "--full", "--strict"], cwd=made.remote, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    assert "error" not in fsck.stderr and "missing" not in fsck.stdout


@pytest.mark.slow
def test_ten_clones_racing_on_one_deployment_each_land_or_fail_clearly(tmp_path: Path) -> None:
    made = make_gitops_repo(tmp_path, versions=10)  # churn@1..10 passed their gates
    clones = [clone(made, tmp_path / f"clone-{i}") for i in range(10)]
    results = start_promotions([f"churn@{i + 1}" for i in range(10)], clones)
    landed = [out for code, out, _ in results if code == 0]
    assert len(landed) == 1  # every clone was stale but the first to push
    for code, _, err in results:
        if code:
            assert code == 1
            assert err.startswith("error: Conflict: environments/staging.yaml changed on origin/main"), err
    promotions = git(made.remote, "log", "--format=%(trailers:key=Action,valueonly)", "main").split()
    assert promotions.count("promote") == len(landed)
    fsck = subprocess.run(["git", "fsck", "--full", "--strict"], cwd=made.remote, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_add_model_helper_makes_a_valid_spec(tmp_path: Path) -> None:
    made = make_gitops_repo(tmp_path)
    add_model(made.root, "fraud")
    assert "fraud" in scan_repo(made.root).models
