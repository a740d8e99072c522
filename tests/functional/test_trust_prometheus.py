"""Issue 11, finding 2: Prometheus credentials go only where the user, not the repository, points them.

Loopback servers stand in for Prometheus and record the Authorization header of every request.
A committed ``prometheus.url`` may be read from, but never receives the user's credentials.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli_process
from tests.support.fake_prometheus import FakePrometheus, serve_prometheus, use_prometheus
from tests.support.status_repo import set_environment

BASIC = "Basic " + base64.b64encode(b"ops:s3cret").decode()


@pytest.fixture
def committed(model_repo: Path) -> Iterator[FakePrometheus]:
    """A Prometheus that the repository's mlops.yaml names (a contributor's choice)."""
    with serve_prometheus(FakePrometheus()) as fake:
        settings = model_repo / "mlops.yaml"
        settings.write_text(settings.read_text().replace("url: null", f"url: {fake.url}", 1))
        set_environment(model_repo, "staging", {"churn": {"version": 1, "port": 8100}})
        yield fake


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's credentials, both kinds, with plain http to this machine allowed."""
    monkeypatch.setenv("MLOPS_PROMETHEUS_USERNAME", "ops")
    monkeypatch.setenv("MLOPS_PROMETHEUS_PASSWORD_ENV", "PROM_PASSWORD")
    monkeypatch.setenv("PROM_PASSWORD", "s3cret")
    monkeypatch.setenv("MLOPS_PROMETHEUS_BEARER_TOKEN_ENV", "PROM_TOKEN")
    monkeypatch.setenv("PROM_TOKEN", "tok-123")
    monkeypatch.setenv("MLOPS_ALLOW_INSECURE_LOOPBACK", "1")


def status(root: Path) -> Any:
    return run_cli_process("status", "--repo", str(root), "--env", "staging")


@pytest.mark.usefixtures("credentials")
def test_a_committed_url_is_queried_without_credentials(model_repo: Path, committed: FakePrometheus) -> None:
    result = status(model_repo)
    assert result.code == 1, result.stderr  # queried: nothing is scraped, the deployment is CRIT
    assert result.stdout.splitlines()[0] == f"source: Prometheus at {committed.url}"
    assert len(committed.requests) == 13  # the 10 figures, the observed span, the live metric and its labels
    assert {request["authorization"] for request in committed.requests} == {None}


def test_a_committed_url_that_asks_for_credentials_says_where_they_go(
    model_repo: Path, committed: FakePrometheus
) -> None:
    committed.status = 401
    result = status(model_repo)
    assert result.code == 3
    assert result.stderr.splitlines() == [
        f"error: Prometheus unreachable: Prometheus at {committed.url} refused the credentials (HTTP 401)",
        "hint: credentials go only to a Prometheus URL set in ~/.config/mlopsctl/config.yaml or "
        "MLOPS_PROMETHEUS_URL, never to prometheus.url in mlops.yaml",
    ]


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("kind", ["basic", "bearer"])
def test_the_user_config_url_gets_the_credentials_instead(
    model_repo: Path, committed: FakePrometheus, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "basic":
        monkeypatch.delenv("MLOPS_PROMETHEUS_BEARER_TOKEN_ENV")
    else:
        monkeypatch.delenv("MLOPS_PROMETHEUS_USERNAME")
        monkeypatch.delenv("MLOPS_PROMETHEUS_PASSWORD_ENV")
    with serve_prometheus(FakePrometheus()) as own:
        config = isolated_home / ".config" / "mlopsctl" / "config.yaml"
        config.parent.mkdir(parents=True)
        config.write_text(f"prometheus:\n  url: {own.url}\n")
        result = status(model_repo)
    assert result.code == 1, result.stderr
    assert result.stdout.splitlines()[0] == f"source: Prometheus at {own.url}"
    assert committed.requests == []
    assert len(own.requests) == 13
    assert {request["authorization"] for request in own.requests} == {BASIC if kind == "basic" else "Bearer tok-123"}


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_with_the_credentials(
    cli: Any, model_repo: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    set_environment(model_repo, "staging", {"churn": {"version": 1, "port": 8100}})
    with serve_prometheus(FakePrometheus()) as elsewhere, serve_prometheus(FakePrometheus(status=code)) as moved:
        moved.redirect_to = elsewhere.url
        use_prometheus(monkeypatch, moved.url)
        monkeypatch.delenv("MLOPS_PROMETHEUS_BEARER_TOKEN_ENV")  # basic auth: what requests re-sends on a redirect
        result = cli("status", "--repo", str(model_repo), "--env", "staging")
    assert elsewhere.requests == []
    assert moved.requests and {request["authorization"] for request in moved.requests} == {BASIC}
    assert result.code == 3
    assert result.stderr.splitlines() == [
        f"error: Prometheus unreachable: Prometheus at {moved.url}/api/v1/query answered HTTP {code} redirecting to "
        f"{elsewhere.url}/api/v1/query; redirects are not followed (they would carry the credentials elsewhere)",
        "hint: set the Prometheus URL to the server's own address",
    ]


@pytest.mark.usefixtures("credentials")
def test_credentials_need_https(cli: Any, model_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_environment(model_repo, "staging", {"churn": {"version": 1, "port": 8100}})
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", "http://prometheus.example.com:9090")
    result = cli("status", "--repo", str(model_repo), "--env", "staging")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "error: Insecure URL: refusing to send the Prometheus credentials to http://prometheus.example.com:9090: "
        "not an https URL",
        "hint: credentials are only sent over https",
    ]


def test_a_missing_ca_bundle_is_named(cli: Any, model_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_environment(model_repo, "staging", {"churn": {"version": 1, "port": 8100}})
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", "https://prometheus.example.com")
    monkeypatch.setenv("MLOPS_PROMETHEUS_CA_FILE", "/nonexistent/ca.pem")
    result = cli("status", "--repo", str(model_repo), "--env", "staging")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "error: Usage error: the CA bundle /nonexistent/ca.pem named by prometheus.ca_file in "
        "~/.config/mlopsctl/config.yaml (or MLOPS_PROMETHEUS_CA_FILE) is not a file",
        "hint: point it at the PEM file that signed the server's certificate",
    ]
