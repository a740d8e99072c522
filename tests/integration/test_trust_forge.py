"""Issue 11, finding 2: a committed file must not decide where the pull-request token goes.

The remote looks like GitHub (``https://github.com/acme/churn-models.git``, so the provider is
GitHub and a token is sent) while ``pushInsteadOf`` sends the pushes to a real bare repository.
The APIs are ``fake_forge`` listeners on 127.0.0.1 that record every request they get.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli_process
from tests.support.fake_forge import Forge, api_environment, serve
from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo

TOKEN = "ghp_trust_0123456789"
GITHUB_URL = "https://github.com/acme/churn-models.git"
BRANCH = "promote/churn-1-staging"
COMPARE = f"https://github.com/acme/churn-models/compare/main...{BRANCH}?expand=1"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitopsRepo:
    made = make_gitops_repo(tmp_path, remote_path="acme/churn-models.git")
    git(made.root, "remote", "set-url", "origin", GITHUB_URL)
    git(made.root, "config", f"url.{made.remote}.pushInsteadOf", GITHUB_URL)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return made


@pytest.fixture
def hostile(repo: GitopsRepo) -> Iterator[Forge]:
    """A listener that a committed mlops.yaml names as the API (and the variable to send it)."""
    with serve(Forge(token=TOKEN, repository=repo.remote)) as listener:
        settings = repo.root / "mlops.yaml"
        settings.write_text(
            settings.read_text().replace(
                "provider: auto",
                f"provider: github\n  api_url: {listener.url}\n  token_env: AWS_SECRET_ACCESS_KEY",
            )
        )
        git(repo.root, "commit", "-qam", "Pull requests through our own API")
        yield listener


def promote(repo: GitopsRepo, env: dict[str, str] | None = None) -> Any:
    return run_cli_process("promote", "churn@1", "--env", "staging", "--repo", str(repo.root), env=env)


def test_a_committed_api_url_never_receives_the_token(repo: GitopsRepo, hostile: Forge) -> None:
    with serve(Forge(token=TOKEN, repository=repo.remote)) as chosen:
        result = promote(repo, {**api_environment(chosen.url), "AWS_SECRET_ACCESS_KEY": "aws-secret"})
    assert hostile.requests == []
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Pull request #1: https://github.com/acme/churn-models/pull/1"
    [request] = chosen.requests
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    # and validate tells the author why those keys do nothing
    result = run_cli_process("validate", "--repo", str(repo.root))
    assert result.code == 1
    moved = "is no longer read from the repository (a committed file must not choose where credentials go)"
    assert result.stdout.splitlines()[:2] == [
        f"mlops.yaml:18:12: git.api_url: 'git.api_url' {moved}; "
        "set it in ~/.config/mlopsctl/config.yaml or MLOPS_GIT_API_URL",
        f"mlops.yaml:19:14: git.token_env: 'git.token_env' {moved}; "
        "set it in ~/.config/mlopsctl/config.yaml or MLOPS_GIT_TOKEN_ENV",
    ]
    assert hostile.requests == []


def test_plain_http_to_this_machine_needs_the_explicit_switch(repo: GitopsRepo) -> None:
    with socket.socket() as probe:  # nothing listens there: the token must not even be tried
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = promote(repo, {"MLOPS_GIT_API_URL": url})
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: Insecure URL: refusing to send the GitHub token to {url}: not an https URL",
        "hint: set MLOPS_ALLOW_INSECURE_LOOPBACK=1 to allow plain http to this machine (tests only)",
    ]
    assert_nothing_committed(repo)


def test_plain_http_elsewhere_is_refused(cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_GIT_API_URL", "http://ghe.example.com/api/v3")
    monkeypatch.setenv("MLOPS_ALLOW_INSECURE_LOOPBACK", "1")
    result = cli("promote", "churn@1", "--env", "staging", "--repo", str(repo.root))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "error: Insecure URL: refusing to send the GitHub token to http://ghe.example.com/api/v3: not an https URL",
        "hint: credentials are only sent over https",
    ]
    assert_nothing_committed(repo)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_with_the_token(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    with (
        serve(Forge(token=TOKEN, repository=repo.remote)) as elsewhere,
        serve(Forge(token=TOKEN, repository=repo.remote, redirect_status=status)) as moved,
    ):
        moved.redirect_to = elsewhere.url
        for name, value in api_environment(moved.url).items():
            monkeypatch.setenv(name, value)
        result = cli("promote", "churn@1", "--env", "staging", "--repo", str(repo.root))
    assert elsewhere.requests == []
    assert len(moved.requests) == 1
    path = "/repos/acme/churn-models/pulls"
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Pull request not opened: POST {moved.url}{path} answered {status} redirecting to "
        f"{elsewhere.url}{path}; the redirect was not followed with the GitHub token (the branch {BRANCH} is pushed)",
        "hint: set git.api_url in ~/.config/mlopsctl/config.yaml (or MLOPS_GIT_API_URL) to the API's own address; "
        f"or open it by hand: {COMPARE}",
    ]


def assert_nothing_committed(repo: GitopsRepo) -> None:
    assert git(repo.root, "branch", "--list", BRANCH) == ""
    assert git(repo.remote, "branch", "--list", BRANCH) == ""
