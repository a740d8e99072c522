"""The live evidence section of a promotion's pull request when the figures cannot be read (issue 16):
the pull request still opens and says why; the window comes from the environment file's history.

The figures themselves, read from a real Prometheus scraping a real shadow, are tested in
tests/integration/test_pr_evidence.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.errors import CheckFailed, PrometheusUnreachable
from mlopsctl.gitops import api
from mlopsctl.gitops.pr_evidence import fenced, markdown_text, safe_label
from tests.support.fake_forge import Forge, api_environment, serve
from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo, promote
from tests.support.services import free_port

TOKEN = "ghp_test_0123456789"
DAY = timedelta(days=1)


def _at(moment: datetime) -> str:
    """As git takes a date (GIT_COMMITTER_DATE)."""
    return moment.isoformat()


def _shown(moment: datetime) -> str:
    """As the pull request shows it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


SHADOW_AT = datetime.now(UTC).replace(microsecond=0) - 3 * DAY


@pytest.fixture
def repo(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> GitopsRepo:
    """churn@1 stable in staging, churn@2 its shadow since SHADOW_AT; pull requests go to GitHub."""
    made = make_gitops_repo(tmp_path, remote_path="acme/churn-models.git")
    settings = made.root / "mlops.yaml"
    settings.write_text(settings.read_text().replace("provider: auto", "provider: github"))
    git(made.root, "commit", "-qam", "Pull requests on GitHub")
    assert promote(cli, made, "churn@1", "--env", "staging", "--direct").code == 0
    with monkeypatch.context() as dated:
        dated.setenv("GIT_COMMITTER_DATE", _at(SHADOW_AT))
        assert promote(cli, made, "churn@2", "--env", "staging", "--strategy", "shadow", "--direct").code == 0
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return made


def _promote_pr(cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Any, str]:
    """``mlopsctl promote ARGS`` against the loopback GitHub: the result and the pull request's body."""
    with serve(Forge(token=TOKEN, repository=repo.remote)) as forge:
        for name, value in api_environment(forge.url).items():
            monkeypatch.setenv(name, value)
        result = promote(cli, repo, *args)
    assert result.code == 0, result.stderr
    [request] = forge.requests
    return result, request.body["body"]


def _shadow_commit(repo: GitopsRepo) -> str:
    return git(repo.root, "log", "-1", "--format=%h", "--abbrev=12", "--grep=as a shadow")


def test_prometheus_down_the_pull_request_opens_and_says_why(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    result, body = _promote_pr(cli, repo, monkeypatch, "churn@2", "--env", "staging")
    why = (
        f"cannot reach Prometheus at {url}: connection refused (start Prometheus or fix prometheus.url in "
        "~/.config/mlopsctl/config.yaml (or MLOPS_PROMETHEUS_URL); leave it empty to scrape the services directly)"
    )
    assert result.stdout.splitlines()[-2:] == [
        "Pull request #1: https://github.com/acme/churn-models/pull/1",
        f"Live evidence (shadow in staging) could not be read: {why}",
    ]
    section = body.split("### Live evidence: churn@2 as shadow in staging\n\n", 1)[1]
    assert section.startswith(f"The live evidence could not be read: {why}\n\n")
    assert (
        f"\n\nWindow: from {_shown(SHADOW_AT)} (commit {_shadow_commit(repo)} made it the shadow) to now (it still runs).\n"
        in section
    )
    assert body.endswith("---\nOpened by mlopsctl. Merging applies it: CI runs `mlopsctl apply --env staging`.\n")


def test_no_prometheus_configured_the_body_says_so(cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    _, body = _promote_pr(cli, repo, monkeypatch, "churn@2", "--env", "staging")
    assert (
        "### Live evidence: churn@2 as shadow in staging\n\n"
        "The live evidence could not be read: no Prometheus URL is configured (set prometheus.url in the user config "
        "or MLOPS_PROMETHEUS_URL, or prometheus.url in mlops.yaml)\n\n"
        f"Window: from {_shown(SHADOW_AT)} (commit {_shadow_commit(repo)} made it the shadow) to now (it still runs).\n\n"
        "---\n"
    ) in body


def test_a_run_that_ended_covers_the_time_until_the_commit_that_ended_it(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as dated:
        dated.setenv("GIT_COMMITTER_DATE", _at(SHADOW_AT + DAY / 2))
        assert promote(cli, repo, "churn@2", "--env", "staging", "--direct").code == 0
    ended = git(repo.root, "rev-parse", "--short=12", "HEAD")
    _, body = _promote_pr(cli, repo, monkeypatch, "churn@2", "--env", "production")
    assert "### Live evidence: churn@2 as shadow in staging\n" in body
    assert (
        f"Window: from {_shown(SHADOW_AT)} (commit {_shadow_commit(repo)} made it the shadow) "
        f"to {_shown(SHADOW_AT + DAY / 2)} (commit {ended} changed it).\n"
    ) in body


def test_a_forged_early_date_is_clamped_to_thirty_days(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as dated:
        dated.setenv("GIT_COMMITTER_DATE", "2001-01-01T00:00:00+00:00")
        assert promote(cli, repo, "churn@3", "--env", "staging", "--strategy", "canary", "--direct").code == 0
    _, body = _promote_pr(cli, repo, monkeypatch, "churn@3", "--env", "staging")
    assert "### Live evidence: churn@3 as canary in staging\n" in body
    assert "(the last 30 days; commit " in body and "made it the canary) to now (it still runs)." in body


def test_a_version_that_never_ran_live_gets_no_section(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, body = _promote_pr(cli, repo, monkeypatch, "churn@3", "--env", "staging")
    assert "Live evidence" not in body and "Live evidence" not in result.stdout


def test_require_evidence_refuses_before_anything_is_committed(
    repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = repo.head()
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PrometheusUnreachable) as down:
        api.promote(repo.root, "churn@2", "staging", require_evidence=True)
    assert down.value.exit_code == 3
    with pytest.raises(CheckFailed) as never:
        api.promote(repo.root, "churn@3", "staging", require_evidence=True)
    assert never.value.message == (
        f"churn@3 never ran as a shadow or canary in any environment (environment files as of {head[:12]})"
    )
    assert never.value.title == "No live evidence"
    assert never.value.hint == (
        "run it as a shadow first (mlopsctl promote churn@3 --env ENV --strategy shadow), "
        "or promote without --require-evidence"
    )
    assert repo.head() == head and git(repo.root, "branch", "--list", "promote/*") == ""


def test_untrusted_text_stays_plain_markdown() -> None:
    assert safe_label("tenure`<img src=x>|\n") == "tenure??img src?x???"
    assert markdown_text("a `b` <b>|c\x1b[2J\nd") == "a 'b' &lt;b&gt;\\|c[2J d"
    assert fenced("x ```` y", "promql") == "`````promql\nx ```` y\n`````"


def test_json_carries_the_run_and_why_there_are_no_figures(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _ = _promote_pr(cli, repo, monkeypatch, "churn@2", "--env", "staging", "-o", "json")
    evidence = json.loads(result.stdout)["evidence"]
    assert {key: evidence[key] for key in ("env", "role", "candidate", "stable", "running", "summary")} == {
        "env": "staging",
        "role": "shadow",
        "candidate": 2,
        "stable": 1,
        "running": True,
        "summary": None,
    }
    assert evidence["start"] == SHADOW_AT.timestamp()
    assert evidence["unreadable"].startswith("no Prometheus URL is configured")
    assert evidence["figures"] == {}


def test_credentials_in_the_prometheus_url_stay_out_of_the_pull_request(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", f"http://alice:s3cret@127.0.0.1:{port}")
    result, body = _promote_pr(cli, repo, monkeypatch, "churn@2", "--env", "staging")
    assert f"The live evidence could not be read: cannot reach Prometheus at http://127.0.0.1:{port}" in body
    assert "s3cret" not in body and "alice" not in body and "s3cret" not in result.stdout


def test_an_environment_file_named_like_a_glob_is_not_read_as_a_run(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = repo.root / "environments" / "*.yaml"
    hostile.write_text((repo.root / "environments" / "staging.yaml").read_text())
    git(repo.root, "add", "--", ":(literal)environments/*.yaml")
    git(repo.root, "commit", "-qm", "A file no environment may be named")
    _, body = _promote_pr(cli, repo, monkeypatch, "churn@2", "--env", "production")
    assert "### Live evidence: churn@2 as shadow in staging\n" in body and "in *" not in body


def test_require_evidence_flag_exits_3_when_prometheus_is_down_and_1_when_it_never_ran_live(
    cli: Any, repo: GitopsRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = repo.head()
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    down = promote(cli, repo, "churn@2", "--env", "staging", "--require-evidence")
    assert down.code == 3
    assert down.stderr.startswith(
        f"error: Prometheus unreachable: cannot reach Prometheus at {url}: connection refused\n"
    )
    never = promote(cli, repo, "churn@3", "--env", "staging", "--require-evidence")
    assert never.code == 1
    assert never.stderr == (
        "error: No live evidence: churn@3 never ran as a shadow or canary in any environment "
        f"(environment files as of {head[:12]})\nhint: run it as a shadow first (mlopsctl promote churn@3 --env ENV --strategy "
        "shadow), or promote without --require-evidence\n"
    )
    assert repo.head() == head and git(repo.root, "branch", "--list", "promote/*") == ""
