"""``mlopsctl rollout`` against the real pieces: a canary served by ``apply`` on the local target, a
REAL Prometheus scraping it with the configuration ``mlopsctl monitoring render`` writes, and a bare
git remote the rollout commits are pushed to.

A good candidate advances 5 -> 25 -> 50 -> 100 with one commit per step while a steady load sees
not one refused request or 5xx across every apply; a candidate trained on flipped labels (low
agreement with the stable version), one much slower per request (a slower p95) and one whose model
raises on some rows the stable version answers (raised errors) are each rolled back at the first step
with the failed check in the commit; --dry-run commits nothing;
Prometheus down pauses the rollout (exit 3) and commits nothing. The spec's rollout block is short
(``min_interval: 1s``, ``min_requests: 20``); every wait is bounded.
"""

from __future__ import annotations

import collections
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.monitor.render import render_environment, write_rendered
from mlopsctl.spec.loader import open_repo
from tests.conftest import CliResult, run_cli_process
from tests.support.apply_repo import git, make_repo, stop_everything, write_env
from tests.support.rendered_prometheus import RenderedPrometheus
from tests.support.rollout_dashboard import read_rollout_panel
from tests.support.rollout_repo import (
    BEYOND_TENURE,
    register_agreeing,
    register_failing_beyond_range,
    register_flipped,
    register_slower,
    set_rollout,
    trailers,
)
from tests.support.services import PrometheusServer, free_port, require_prometheus
from tests.support.serving import CHURN_FEATURES, churn_data, records_of
from tests.support.steady_load import SteadyLoad

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

ENV = "staging"
POLLS = 120
"""Most dry runs a test makes while waiting for a step to be due (each after half a second)."""
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Canary:
    root: Path
    remote: Path
    port: int
    prometheus: PrometheusServer
    """A :class:`RenderedPrometheus`, as its ``with`` gives it."""

    def mlopsctl(self, *args: str) -> CliResult:
        url = {"MLOPS_PROMETHEUS_URL": self.prometheus.url}
        return run_cli_process(*args, "--repo", str(self.root), env=url)

    def rollout(self, *args: str) -> CliResult:
        return self.mlopsctl("rollout", "--env", ENV, *args)

    def apply(self) -> None:
        result = self.mlopsctl("apply", "--env", ENV, "--timeout", "90")
        assert result.code == 0, result.stdout + result.stderr

    def promote_canary(self, version: int) -> None:
        result = self.mlopsctl("promote", f"churn@{version}", "--env", ENV, "--weight", "5", "--direct")
        assert result.code == 0, result.stderr
        self.apply()

    def head(self) -> str:
        return git(self.root, "rev-parse", "HEAD")

    def deployment(self) -> dict[str, Any]:
        document = yaml.safe_load((self.root / "environments" / f"{ENV}.yaml").read_text())
        found: dict[str, Any] = document["deployments"]["churn"]
        return found


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Canary]:
    """churn v1 served alone on the local target, Prometheus scraping it, a bare remote; v2 (agrees
    with v1) and v3 (flipped labels) registered."""
    require_prometheus()
    root = make_repo(tmp_path, versions=1)
    register_agreeing(root, 2)
    register_flipped(root, 3)
    # the load repeats one row, so its drift is real: drift is not what these tests judge
    set_rollout(root, min_interval="1s", min_requests=20, checks={"max_p95_latency_ratio": 3, "max_drift_psi": None})
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    port = free_port()
    write_env(root, ENV, {"churn": {"version": 1, "port": port}}, base_port=port)
    git(root, "push", "-q", "origin", "main")
    folder = tmp_path / "monitoring"
    write_rendered(render_environment(open_repo(root), ENV, scrape_interval="1s"), folder)
    try:
        with RenderedPrometheus(folder) as prometheus:
            made = Canary(root, remote, port, prometheus)
            made.apply()
            prometheus.wait_for(f'up{{env="{ENV}",instance="127.0.0.1:{port}"}} == 1', timeout=30)
            yield made
    finally:
        stop_everything(root)


def due(canary: Canary, traffic: Callable[[], None] | None = None) -> dict[str, Any]:
    """Dry runs until the step is judged (not waiting); ``traffic()`` runs before each."""
    decision: dict[str, Any] = {}
    for _ in range(POLLS):
        if traffic is not None:
            traffic()
        result = canary.rollout("--dry-run", "-o", "json")
        assert result.code in (0, 1), result.stderr
        (decision,) = json.loads(result.stdout)["decisions"]
        if decision["action"] != "wait":
            return decision
        time.sleep(0.5)
    raise AssertionError(f"the step never became due: {decision}")


def test_a_good_canary_advances_to_the_full_promotion_one_commit_per_step(canary: Canary) -> None:
    canary.promote_canary(2)
    start = canary.head()
    seen: list[str] = []
    with SteadyLoad(canary.port) as load:
        for step, after in (("1/4", "2/4"), ("2/4", "3/4"), ("3/4", "4/4")):
            decision = due(canary)
            assert decision["step"] == step
            assert decision["action"] in ("advance", "promote"), decision["reason"]
            head = canary.head()
            result = canary.rollout()
            assert result.code == 0, result.stdout + result.stderr
            seen.append(" ".join(result.stdout.split()))
            assert git(canary.root, "rev-list", "--count", f"{head}..HEAD") == "1"
            assert trailers(canary.root, "Rollout-Step", 1) == [after]
            canary.apply()
        assert load.wait_for(load.answered(2, 5))
    assert load.errors == {}
    assert set(load.statuses) == {200}
    assert canary.deployment() == {"version": 2, "port": canary.port}
    assert "advance: step 1/4 (5%) passed its checks: next step 2/4 (25%)" in seen[0]
    assert "advance: step 2/4 (25%) passed its checks: next step 3/4 (50%)" in seen[1]
    assert "promote: step 3/4 (50%) passed its checks: v2 replaces v1" in seen[2]
    assert "error rate 0.00% <= 1.00% pass" in seen[0]
    assert git(canary.root, "rev-list", "--count", f"{start}..HEAD") == "3"
    assert trailers(canary.root, "Rollout-Decision", 3) == ["promote", "advance", "advance"]
    assert git(canary.remote, "rev-parse", "main") == canary.head()
    history = canary.mlopsctl("history", "--env", ENV, "-o", "json")
    assert history.code == 0, history.stderr
    steps = [(e["rollout_step"], e["rollout_decision"], e["weight"]) for e in json.loads(history.stdout)["entries"][:4]]
    assert steps == [("4/4", "promote", None), ("3/4", "advance", 50), ("2/4", "advance", 25), (None, None, 5)]


def varied_rows(port: int) -> Callable[[], None]:
    """A hundred predictions of different rows of the churn sample, one request each."""
    rows = records_of(churn_data(200, 11)[list(CHURN_FEATURES)])
    sent = iter(range(10**6))

    def send() -> None:
        for _ in range(100):
            body = json.dumps({"record": rows[next(sent) % len(rows)]}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predict", data=body, headers={"Content-Type": "application/json"}
            )
            with _OPENER.open(request, timeout=10) as response:
                assert response.status == 200

    return send


def test_a_disagreeing_canary_is_rolled_back_at_the_first_step_and_prometheus_down_pauses(
    canary: Canary, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary.promote_canary(3)
    start = canary.head()
    send = varied_rows(canary.port)
    decision = due(canary, send)
    assert (decision["step"], decision["action"]) == ("1/4", "rollback")
    send()  # well past min_requests: the step stays due while the window grows
    send()
    assert decision["reason"].startswith("step 1/4 (5%) failed: agreement ")
    dry = canary.rollout("--dry-run")
    assert dry.code == 1
    assert "would roll back: step 1/4 (5%) failed: agreement " in " ".join(dry.stdout.split())
    assert canary.head() == start
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", canary.prometheus.url)
    panel = read_rollout_panel(canary.root).splitlines()  # the dashboard judges the same, live
    assert panel[0] == "churn in staging: step 1/4, 5%"
    assert panel[1].startswith("rollout would roll back: step 1/4 (5%) failed: agreement ")
    assert [line.split()[0] for line in panel[2:]] == ["error", "p95", "agreement"]
    assert panel[4].split()[2:4] == [">=", "90.00%"] and panel[4].split()[4] == "fail"
    assert canary.head() == start

    canary.prometheus.stop()
    paused = canary.rollout()
    assert paused.code == 3
    assert paused.stderr.startswith(
        f"error: Prometheus unreachable: cannot reach Prometheus at {canary.prometheus.url}"
    )
    assert canary.head() == start

    canary.prometheus.start()
    canary.prometheus.wait_for(f'up{{env="{ENV}"}} == 1', timeout=30)
    result = canary.rollout("--no-push")
    assert result.code == 1, result.stdout + result.stderr
    assert git(canary.remote, "rev-parse", "main") == start  # committed here only
    assert f"committed {canary.head()[:12]}, not pushed (--no-push)" in result.stdout
    assert "roll back: step 1/4 (5%) failed: agreement " in " ".join(result.stdout.split())
    message = git(canary.root, "log", "-1", "--format=%B")
    assert message.startswith("Roll back churn in staging to version 1\n\nstep 1/4 (5%) failed: agreement ")
    assert "Rollout-Decision: rollback" in message and "Rollout-Step: 1/4" in message
    assert "sum(increase(mlops_agreed_rows_total{" in message  # the PromQL behind the failed check
    assert canary.deployment() == {"version": 1, "port": canary.port}
    canary.apply()


def rolled_back(canary: Canary, start: str, check: str) -> str:
    """Run the rollout that is due; assert it rolled back at step 1/4 naming ``check``, committed and
    pushed, and put the stable version back alone. The commit message."""
    result = canary.rollout()
    assert result.code == 1, result.stdout + result.stderr
    assert f"roll back: step 1/4 (5%) failed: {check} " in " ".join(result.stdout.split())
    assert git(canary.root, "rev-list", "--count", f"{start}..HEAD") == "1"
    assert git(canary.remote, "rev-parse", "main") == canary.head()
    message = git(canary.root, "log", "-1", "--format=%B")
    assert message.startswith(f"Roll back churn in staging to version 1\n\nstep 1/4 (5%) failed: {check} ")
    assert trailers(canary.root, "Rollout-Decision", 1) == ["rollback"]
    assert trailers(canary.root, "Rollout-Step", 1) == ["1/4"]
    assert canary.deployment() == {"version": 1, "port": canary.port}
    return message


def verdicts(decision: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["verdict"] for check in decision["checks"]}


def test_a_slower_canary_is_rolled_back_at_the_first_step_for_its_p95(canary: Canary) -> None:
    """600 fully grown trees against 5 of depth 4, taught the stable version's answers: they agree
    on every row sent and never fail, but each request walks hundreds of times as many nodes."""
    set_rollout(canary.root, checks={"max_p95_latency_ratio": 2, "max_drift_psi": None})
    register_slower(canary.root, 4)
    canary.promote_canary(4)
    start = canary.head()
    decision = due(canary, varied_rows(canary.port))
    assert (decision["step"], decision["action"]) == ("1/4", "rollback"), decision["reason"]
    assert verdicts(decision) == {"error rate": "pass", "p95 latency vs stable": "fail", "agreement": "pass"}
    assert decision["evidence"]["figures"]["agreement"]["value"] == pytest.approx(1)
    figures = decision["evidence"]["figures"]
    assert figures["p95_candidate_ms"]["value"] > 2 * figures["p95_stable_ms"]["value"]
    assert decision["reason"].startswith("step 1/4 (5%) failed: p95 latency vs stable ")
    assert decision["reason"].endswith("(<= 2x): fail")
    assert canary.head() == start

    message = rolled_back(canary, start, "p95 latency vs stable")
    assert "histogram_quantile(0.95, sum by (le) (increase(mlops_request_duration_seconds_bucket{" in message
    assert 'version="4",role="canary"' in message and 'version="1",role="stable"' in message
    canary.apply()


def beyond_range_rows(port: int, seen: collections.Counter[tuple[str, int]]) -> Callable[[], None]:
    """A hundred predictions of rows of the churn sample, one request each, every third with a tenure
    beyond the sample's range; counts (role, status) of the answers in ``seen``."""
    rows = records_of(churn_data(200, 11)[list(CHURN_FEATURES)])
    for i in range(0, len(rows), 3):
        rows[i]["tenure_months"] = BEYOND_TENURE
    sent = iter(range(10**6))

    def send() -> None:
        for _ in range(100):
            body = json.dumps({"record": rows[next(sent) % len(rows)]}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predict", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with _OPENER.open(request, timeout=10) as response:
                    status, role = response.status, response.headers["X-Model-Role"]
            except urllib.error.HTTPError as exc:
                status, role = exc.code, exc.headers["X-Model-Role"]
                exc.close()
            seen[(role, status)] += 1

    return send


def test_a_canary_raising_errors_is_rolled_back_at_the_first_step_for_its_error_rate(canary: Canary) -> None:
    """A naive Bayes candidate that raises inside scikit-learn on a tenure it never saw (a 500) where
    the stable forest answers; the check that fails is the error rate, against the stable's 0%."""
    # it agrees with the forest on about 80% of rows, and its failed requests (each logged with its
    # traceback) are slower than its answers: neither is what this test judges
    set_rollout(canary.root, checks={"max_p95_latency_ratio": None, "min_agreement": None, "max_drift_psi": None})
    register_failing_beyond_range(canary.root, 4)
    canary.promote_canary(4)
    start = canary.head()
    seen: collections.Counter[tuple[str, int]] = collections.Counter()
    decision = due(canary, beyond_range_rows(canary.port, seen))
    assert (decision["step"], decision["action"]) == ("1/4", "rollback"), decision["reason"]
    assert seen[("canary", 500)] > 0 and seen[("canary", 200)] > 0
    assert {status for role, status in seen if role == "stable"} == {200}  # the same rows, answered
    assert verdicts(decision) == {"error rate": "fail"}
    figures = decision["evidence"]["figures"]
    assert figures["error_rate_stable"]["value"] == 0
    assert figures["error_rate_candidate"]["value"] > 0.01
    assert decision["reason"].startswith("step 1/4 (5%) failed: error rate ")
    assert decision["reason"].endswith("(<= 1.00%): fail")
    assert canary.head() == start

    message = rolled_back(canary, start, "error rate")
    errors = re.search(r"; errors (\d+\.\d\d)% vs 0\.00%;", message)  # the candidate's, then the stable's
    assert errors is not None and float(errors.group(1)) > 1, message
    assert 'code=~"5.."' in message and 'version="4",role="canary"' in message
    canary.apply()
