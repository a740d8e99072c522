"""The live evidence in a promotion's pull request, against the real pieces (issue 16): churn@2 runs
as the shadow of churn@1 on the local target (``mlopsctl apply``), a REAL Prometheus scrapes it with
the configuration ``mlopsctl monitoring render`` writes, bounded traffic goes through, and
``mlopsctl promote churn@2 --env staging`` opens the pull request on the loopback GitHub.

Each figure in the body must equal its PromQL (from the body's ``<details>`` block) run directly
against the same Prometheus at the instant the body names. The services are stopped before the
promotion, so no sample can land in the window between the promotion's queries and the test's.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.monitor.render import render_environment, write_rendered
from mlopsctl.spec.loader import open_repo
from tests.conftest import CliResult, run_cli_process
from tests.support.apply_repo import make_repo, stop_everything, write_env
from tests.support.fake_forge import Forge, api_environment, serve
from tests.support.rendered_prometheus import RenderedPrometheus
from tests.support.retrain_repo import with_github_remote
from tests.support.rollout_repo import register_flipped
from tests.support.services import free_port, require_prometheus
from tests.support.serving import CHURN_FEATURES, churn_data, records_of

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

ENV = "staging"
REQUESTS = 60
FIRST = 10
"""Predictions before Prometheus first sees the counters; the rest after."""
TOKEN = "ghp_evidence_0123456789"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SHOWN: dict[str, Callable[[float], str]] = {
    "Requests": lambda v: f"{v:,.0f}",
    "Rows compared": lambda v: f"{v:,.0f}",
    "Agreement": lambda v: f"{v:.2%}",
    "Error rate": lambda v: f"{v:.2%}",
    "p95 latency": lambda v: f"{v:.2f} ms",
    "Largest feature drift": lambda v: f"{v:.3f}",
}
"""How the pull request shows each kind of figure (by the start of its name)."""


@dataclass
class Shadowed:
    root: Path
    remote: Path
    prometheus: RenderedPrometheus


@pytest.fixture
def shadowed(tmp_path: Path) -> Iterator[Shadowed]:
    """churn@1 stable and churn@2 (trained on flipped labels) its shadow in staging, served by apply,
    scraped by a real Prometheus every second; REQUESTS predictions answered (FIRST of them before
    the first scrape that sees them), then the service stopped."""
    require_prometheus()
    root = make_repo(tmp_path, versions=1)
    register_flipped(root, 2)
    port = free_port()
    write_env(root, ENV, {"churn": {"version": 1, "strategy": "shadow", "candidate": 2, "port": port}}, base_port=port)
    remote = with_github_remote(root, tmp_path / "remotes")
    folder = tmp_path / "monitoring"
    write_rendered(render_environment(open_repo(root), ENV, scrape_interval="1s"), folder)
    try:
        with RenderedPrometheus(folder) as prometheus:
            applied = run_cli_process("apply", "--env", ENV, "--timeout", "90", "--repo", str(root))
            assert applied.code == 0, applied.stdout + applied.stderr
            # a counter's first scraped sample is its baseline: traffic before and after one scrape
            for sent in (FIRST, REQUESTS):
                _predict(port, sent - (FIRST if sent == REQUESTS else 0))
                prometheus.wait_for(f'sum(mlops_compared_rows_total{{env="{ENV}"}}) >= {sent}', timeout=60)
            stop_everything(root)
            prometheus.wait_for(f'up{{env="{ENV}",instance="127.0.0.1:{port}"}} == 0', timeout=30)
            yield Shadowed(root, remote, prometheus)
    finally:
        stop_everything(root)


def _predict(port: int, count: int) -> None:
    rows = records_of(churn_data(200, 11)[list(CHURN_FEATURES)])
    for index in range(count):
        body = json.dumps({"record": rows[index % len(rows)]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with _OPENER.open(request, timeout=10) as response:
            assert response.status == 200


def _promote(shadowed: Shadowed, forge: Forge) -> CliResult:
    env = {"GITHUB_TOKEN": TOKEN, "MLOPS_PROMETHEUS_URL": shadowed.prometheus.url, **api_environment(forge.url)}
    return run_cli_process("promote", "churn@2", "--env", ENV, "--repo", str(shadowed.root), env=env)


def _table(body: str) -> dict[str, str]:
    """Figure name -> the value cell, from the section's table."""
    rows = body.split("| Figure | Value |\n|---|---|\n", 1)[1].split("\n\n", 1)[0].splitlines()
    cells = [row.removeprefix("| ").removesuffix(" |").split(" | ", 1) for row in rows]
    return {name: value for name, value in cells}


def _queries(body: str) -> tuple[float, dict[str, str]]:
    """The instant the figures were read at, and figure name -> its PromQL, from the <details> block."""
    details = body.split("<details>", 1)[1].split("</details>", 1)[0]
    instant = float(re.search(r"instant queries at ([0-9.]+)\)", details)[1])  # type: ignore[index]
    blocks = re.findall(r"^([^\n]+):\n\n(`{3,})promql\n(.*?)\n\2$", details, re.S | re.M)
    return instant, {name: promql for name, _, promql in blocks}


def _direct(prometheus: RenderedPrometheus, promql: str, at: float) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = prometheus.api("query", query=promql, time=f"{at:.3f}")["result"]
    return [row for row in result if row["value"][1] != "NaN"]


def _expected(name: str, rows: list[dict[str, Any]]) -> str:
    """The cell the pull request must show for the direct answer ``rows``."""
    if not rows:
        return "n/a"
    row = max(rows, key=lambda found: float(found["value"][1]))
    shown = next(show for start, show in SHOWN.items() if name.startswith(start))(float(row["value"][1]))
    feature = row["metric"].get("feature")
    return f"{shown} (`{feature}`)" if name.startswith("Largest feature drift") else shown


def test_the_pull_request_carries_the_shadows_figures_as_prometheus_answers_them(shadowed: Shadowed) -> None:
    with serve(Forge(token=TOKEN, repository=shadowed.remote)) as forge:
        result = _promote(shadowed, forge)
    assert result.code == 0, result.stdout + result.stderr
    [request] = forge.requests
    body: str = request.body["body"]
    assert "### Live evidence: churn@2 as shadow in staging\n" in body
    table, (instant, queries) = _table(body), _queries(body)
    assert set(table) == set(queries)
    for name, promql in queries.items():
        expected = _expected(name, _direct(shadowed.prometheus, promql, instant))
        assert table[name].startswith(expected), (name, table[name], expected)
    for name in (
        "Requests, v2 (shadow)",
        "Requests, v1 (stable)",
        "Rows compared with the stable version",
        "Agreement with the stable version",
        "p95 latency, v2 (shadow)",
        "p95 latency, v1 (stable)",
        "Error rate, v2 (shadow)",
        "Error rate, v1 (stable)",
        "Largest feature drift (PSI), v2 (shadow)",
    ):
        assert not table[name].startswith("n/a"), (name, table[name])
    assert table["Error rate, v2 (shadow)"] == "0.00%"
    agreement = float(
        _direct(shadowed.prometheus, queries["Agreement with the stable version"], instant)[0]["value"][1]
    )
    assert agreement < 0.5  # trained on flipped labels
    requests = table["Requests, v2 (shadow)"]
    summary = f"shadow v2 agreed with v1 on {agreement:.1%} of {requests} requests over "
    assert f"\n> {summary}" in body
    assert f"Live evidence (shadow in staging): {summary}" in " ".join(result.stdout.split())
