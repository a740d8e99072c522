"""What ``status`` sends to a Prometheus that needs credentials, and what it says when refused.

A loopback server stands in for Prometheus' query API and records each request's headers. The
URL and the credentials are the user's (``MLOPS_PROMETHEUS_*``); plain http to it is allowed by
``MLOPS_ALLOW_INSECURE_LOOPBACK=1``, as a user would for a Prometheus on their own machine.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_prometheus import FakePrometheus, serve_prometheus, use_prometheus
from tests.support.status_repo import set_environment


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    with serve_prometheus(FakePrometheus()) as fake:
        yield fake


@pytest.fixture
def deployed(model_repo: Path) -> Path:
    set_environment(model_repo, "staging", {"churn": {"version": 1, "port": 8100}})
    return model_repo


def test_basic_auth_password_from_the_environment(
    cli: Any, deployed: Path, prometheus: FakePrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_prometheus(monkeypatch, prometheus.url)
    monkeypatch.setenv("MLOPS_PROMETHEUS_USERNAME", "ops")
    monkeypatch.setenv("MLOPS_PROMETHEUS_PASSWORD_ENV", "PROM_PASSWORD")
    monkeypatch.setenv("PROM_PASSWORD", "s3cret")
    result = cli("status", "--repo", str(deployed), "-o", "json")
    assert result.code == 1  # nothing scraped: the deployment is CRIT "not scraped"
    expected = "Basic " + base64.b64encode(b"ops:s3cret").decode()
    assert {r["authorization"] for r in prometheus.requests} == {expected}
    assert {r["path"] for r in prometheus.requests} == {"/api/v1/query"}
    assert (
        len(prometheus.requests) == 13
    )  # the 10 figures, the span they were observed over, the live metric and its labels
    assert len({r["query"]["time"][0] for r in prometheus.requests}) == 1  # one instant for every query
    (deployment,) = json.loads(result.stdout)["deployments"]
    assert deployment["reasons"][0] == (
        "not scraped: no `up` series for 127.0.0.1:8100 in env staging (is it in the scrape config?)"
    )


def test_bearer_token_from_the_environment(
    cli: Any, deployed: Path, prometheus: FakePrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_prometheus(monkeypatch, prometheus.url)
    monkeypatch.setenv("MLOPS_PROMETHEUS_BEARER_TOKEN_ENV", "PROM_TOKEN")
    monkeypatch.setenv("PROM_TOKEN", "tok-123")
    cli("status", "--repo", str(deployed))
    assert {r["authorization"] for r in prometheus.requests} == {"Bearer tok-123"}


def test_refused_credentials_exit_3(
    cli: Any, deployed: Path, prometheus: FakePrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    prometheus.status = 401
    use_prometheus(monkeypatch, prometheus.url)
    result = cli("status", "--repo", str(deployed))
    assert result.code == 3
    assert result.stderr.splitlines() == [
        f"error: Prometheus unreachable: Prometheus at {prometheus.url} refused the credentials (HTTP 401)",
        "hint: check prometheus.username, password_env or bearer_token_env in ~/.config/mlopsctl/config.yaml "
        "(or MLOPS_PROMETHEUS_*)",
    ]


def test_nothing_deployed(
    cli: Any, model_repo: Path, prometheus: FakePrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", prometheus.url)
    result = cli("status", "--repo", str(model_repo))
    assert result.code == 0
    assert result.stdout.splitlines() == [
        f"source: Prometheus at {prometheus.url}",
        "nothing is deployed in the environments checked",
    ]
    assert prometheus.requests == []
