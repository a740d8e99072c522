"""retire as a pull request on the loopback GitHub (fake_forge), against a real bare remote (issue 13, item 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.fake_forge import Forge, api_environment, serve
from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo, promote

TOKEN = "ghp_test_0123456789"


@pytest.fixture
def repo(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> GitopsRepo:
    made = make_gitops_repo(tmp_path, remote_path="acme/churn-models.git")
    for env in ("staging", "production"):
        assert promote(cli, made, "churn@1", "--env", env, "--direct").code == 0
    settings = made.root / "mlops.yaml"
    settings.write_text(settings.read_text().replace("provider: auto", "provider: github"))
    git(made.root, "commit", "-qam", "Pull requests on GitHub")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return made


def test_retire_opens_one_pull_request_that_retires_everything(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(Forge(token=TOKEN, repository=repo.remote)) as forge:
        for name, value in api_environment(forge.url).items():
            monkeypatch.setenv(name, value)
        result = cli("retire", "churn", "--pr", "-m", "the churn service is shut down", "--repo", str(repo.root))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-3:] == [
        "Pull request #1: https://github.com/acme/churn-models/pull/1",
        "Archived in the same commit: churn 1, 2, 3, 4",
        "CI stops it when it merges (mlopsctl apply --env production; mlopsctl apply --env staging).",
    ]
    [request] = forge.requests
    body = request.body
    assert (body["title"], body["head"], body["base"]) == (
        "Retire churn: out of production, staging, archive versions 1, 2, 3, 4",
        "retire/churn",
        "main",
    )
    assert body["body"].startswith("## Retire churn: out of production, staging, archive versions 1, 2, 3, 4\n")
    assert "| Out of | production: was 1<br>staging: was 1 |\n| Archived | 1, 2, 3, 4 |\n" in body["body"]
    assert body["body"].endswith(
        "Merging applies it: CI runs `mlopsctl apply --env production`, `mlopsctl apply --env staging`.\n"
    )
    # one commit on the pushed branch holds the environments and the archive
    pushed = git(repo.remote, "rev-parse", "retire/churn")
    assert git(repo.remote, "rev-parse", f"{pushed}^") == repo.head()
    for env in ("staging", "production"):
        assert yaml.safe_load(git(repo.remote, "show", f"{pushed}:environments/{env}.yaml"))["deployments"] == {}
    assert "Action: retire" in git(repo.remote, "log", "-1", "--format=%B", pushed)
