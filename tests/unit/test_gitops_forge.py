"""Where a remote lives and how a pull request is opened by hand: provider, paths, URLs, commands."""

from __future__ import annotations

import pytest

from mlopsctl.gitops import forge
from mlopsctl.spec.models import GitSettings
from mlopsctl.spec.userconfig import UserGit


@pytest.mark.parametrize(
    ("url", "host", "path"),
    [
        ("git@github.com:acme/churn-models.git", "github.com", "acme/churn-models"),
        ("https://github.com/acme/churn-models", "github.com", "acme/churn-models"),
        ("https://oauth2:tok@gitlab.example.com/ml/team/churn.git", "gitlab.example.com", "ml/team/churn"),
        ("ssh://git@gitlab.com:2222/ml/churn.git", "gitlab.com", "ml/churn"),
        ("/srv/git/acme/churn-models.git", None, "acme/churn-models"),
        ("file:///srv/git/acme/churn-models.git", None, "acme/churn-models"),
        ("../remotes/acme/models.git", None, "acme/models"),
    ],
)
def test_parse_remote_url(url: str, host: str | None, path: str) -> None:
    assert forge.parse_remote_url(url) == (host, path)


@pytest.mark.parametrize(
    ("url", "provider", "api"),
    [
        ("git@github.com:acme/m.git", "github", "https://api.github.com"),
        ("https://github.example.com/acme/m.git", "github", "https://github.example.com/api/v3"),
        ("git@gitlab.com:acme/m.git", "gitlab", "https://gitlab.com/api/v4"),
        ("https://git.example.com/acme/m.git", "none", None),
    ],
)
def test_provider_and_api_come_from_the_url(url: str, provider: str, api: str | None) -> None:
    remote = forge.resolve_remote(GitSettings(), url)
    assert (remote.provider, remote.api_url) == (provider, api)


def test_user_config_chooses_the_api_and_the_token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    user = UserGit(api_url="https://git.example.com/api/v4/", token_env="ACME_TOKEN")
    remote = forge.resolve_remote(GitSettings(provider="gitlab"), "https://git.example.com/acme/m.git", user)
    assert (remote.provider, remote.api_url) == ("gitlab", "https://git.example.com/api/v4")
    monkeypatch.delenv("ACME_TOKEN", raising=False)
    assert forge.find_token(user, "gitlab") is None
    monkeypatch.setenv("ACME_TOKEN", "t")
    assert forge.find_token(user, "gitlab") == "t"
    assert forge.token_variable(UserGit(), "gitlab") == "GITLAB_TOKEN"
    assert forge.token_variable(UserGit(), "github") == "GITHUB_TOKEN"


def test_the_api_comes_from_the_environment_not_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_GIT_API_URL", "https://ghe.example.com/api/v3")
    remote = forge.resolve_remote(GitSettings(provider="github"), "git@github.com:acme/m.git")
    assert remote.api_url == "https://ghe.example.com/api/v3"


def test_manual_urls_and_commands() -> None:
    github = forge.resolve_remote(GitSettings(), "git@github.com:acme/m.git")
    gitlab = forge.resolve_remote(GitSettings(), "git@gitlab.com:acme/m.git")
    head = "promote/churn-3-production"
    assert forge.compare_url(github, head, "main") == (
        "https://github.com/acme/m/compare/main...promote/churn-3-production?expand=1"
    )
    assert forge.compare_url(gitlab, head, "main") == (
        "https://gitlab.com/acme/m/-/merge_requests/new?merge_request%5Bsource_branch%5D=promote%2Fchurn-3-production"
        "&merge_request%5Btarget_branch%5D=main"
    )
    assert forge.pr_command(github, head, "main") == f"gh pr create --base main --head {head} --fill"
    assert forge.pr_command(gitlab, head, "main") == (
        f"glab mr create --source-branch {head} --target-branch main --fill --yes"
    )
    assert forge.push_command("origin", github, head, "main") == f"git push origin {head}:{head}"
    assert forge.push_command("origin", gitlab, head, "main") == (
        f"git push -o merge_request.create -o merge_request.target=main origin {head}:{head}"
    )
