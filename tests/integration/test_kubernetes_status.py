"""``status`` for a kubernetes environment (issue 17): Kubernetes' metric names, from a real Prometheus.

No cluster: a real Prometheus scrapes a loopback page holding what cAdvisor, kube-state-metrics and
the services (as the rendered PodMonitor labels them) export for environment ``production``:
churn healthy, fraud with no ready replica (CRIT), score restarted once after an OOM kill (WARN).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.monitor.api import health_fetcher
from mlopsctl.overview.api import read_overview
from mlopsctl.spec.loader import open_repo
from tests.conftest import run_cli_process
from tests.support.cluster_metrics import ClusterPage, Pod, Workload, make_cluster_repo
from tests.support.services import MetricsHTTPServer, PrometheusServer, require_prometheus

ENV = "production"
NAMESPACE = "mlops-production"
CHURN_PODS = ("churn-stable-7c9d8f6b5-x2k4p", "churn-stable-7c9d8f6b5-q8m3z")
FRAUD_POD = "fraud-stable-5f6d7c8b9-k2j4h"
SCORE_POD = "score-stable-6b7c8d9f5-p3r7t"
PRICES_PODS = ("prices-stable-5c6d7e8f9-a1b2c", "prices-candidate-6d7e8f9a1-d3e4f")
MODELS: dict[str, int | str] = {
    "churn": 1,
    "fraud": 2,
    "score": 3,
    "prices": "version: 1\ncandidate: 2\nstrategy: canary\nweight: 20",
}


@dataclass
class Cluster:
    root: Path
    prometheus_url: str


def _page() -> ClusterPage:
    churn = Workload("churn", 1, [Pod(CHURN_PODS[0]), Pod(CHURN_PODS[1])], ready=2, desired=2, autoscaler=(2, 3))
    fraud = Workload("fraud", 2, [Pod(FRAUD_POD)], ready=0, desired=1)
    score = Workload("score", 3, [Pod(SCORE_POD, oom_killed=True)], ready=1, desired=1, autoscaler=(1, 3))
    prices = Workload("prices", 1, [Pod(PRICES_PODS[0])], ready=1, desired=1, autoscaler=(1, 3))
    # the Gateway API splits traffic: the candidate has its own Deployment, its series say role stable
    prices_candidate = Workload(
        "prices", 2, [Pod(PRICES_PODS[1])], ready=1, desired=1, autoscaler=(1, 3), kind="candidate"
    )
    return ClusterPage(ENV, NAMESPACE, [churn, fraud, score, prices, prices_candidate])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_prometheus()
    repo = make_cluster_repo(tmp_path_factory.mktemp("kube-status"), ENV, MODELS)
    page = _page()
    with MetricsHTTPServer(page.text()) as exporter, PrometheusServer([exporter.target]) as prometheus:
        prometheus.wait_for(f'kube_pod_container_status_restarts_total{{pod="{SCORE_POD}"}} == 0')
        churn, _, score, _, prices_candidate = page.workloads
        churn.requests = 120
        prices_candidate.requests = 30
        churn.pods[0].cpu_seconds = 60.0
        score.pods[0].restarts = 1
        exporter.text = page.text()
        prometheus.wait_for(f'increase(kube_pod_container_status_restarts_total{{pod="{SCORE_POD}"}}[1h]) > 0')
        prometheus.wait_for(f'increase(mlops_requests_total{{namespace="{NAMESPACE}",code="200"}}[1h]) > 0')
        prometheus.wait_for(
            f'rate(container_cpu_usage_seconds_total{{pod="{CHURN_PODS[0]}",container="serve"}}[1h]) > 0'
        )
        yield Cluster(repo.root, prometheus.url)


def _status(cluster: Cluster, *args: str) -> Any:
    return run_cli_process(
        "status", "--repo", str(cluster.root), "--env", ENV, *args, env={"MLOPS_PROMETHEUS_URL": cluster.prometheus_url}
    )


def _checks(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in deployment["checks"]}


@pytest.mark.prometheus
@pytest.mark.slow
def test_status_json_judges_pods_replicas_and_restarts(cluster: Cluster) -> None:
    result = _status(cluster, "-o", "json")
    assert result.code == 1, result.stdout + result.stderr  # fraud has no ready replica: CRIT
    report = json.loads(result.stdout)
    assert report["state"] == "CRIT"
    churn, fraud, score = report["deployments"][:3]

    assert churn["kubernetes"]["deployment"] == "churn-stable"
    assert churn["kubernetes"]["namespace"] == NAMESPACE
    assert [pod["pod"] for pod in churn["kubernetes"]["pods"]] == sorted(CHURN_PODS)
    checks = _checks(churn)
    assert checks["replicas"] == {
        "name": "replicas",
        "area": "infrastructure",
        "state": "OK",
        "value": 2.0,
        "reason": "2 of 2 replicas ready (churn-stable in mlops-production)",
    }
    assert checks["autoscaler"]["reason"] == "autoscaler 2 of 3 replicas"
    assert checks["up"]["reason"] == "2 of 2 pods answer scrapes"
    assert checks[f"restarts:{CHURN_PODS[0]}"]["reason"] == f"{CHURN_PODS[0]}: no restarts over 1h"
    assert checks[f"memory:{CHURN_PODS[0]}"]["reason"] == f"{CHURN_PODS[0]}: memory 50.0 MiB working set"
    assert checks[f"cpu:{CHURN_PODS[0]}"]["state"] == "OK"
    assert checks[f"cpu:{CHURN_PODS[0]}"]["value"] > 0  # the serve container only, not the pause container
    assert checks[f"cpu:{CHURN_PODS[1]}"]["value"] == 0
    # the service's own series, selected by namespace and pod: the other team's 500s are not ours
    assert checks["error_rate"]["state"] == "OK"
    assert checks["error_rate"]["reason"].startswith("error rate 0.0% over ")
    assert churn["values"]["requests"] > 0
    assert churn["state"] == "OK"
    assert {check["state"] for check in churn["checks"]} == {"OK"}

    assert fraud["state"] == "CRIT"
    fraud_checks = _checks(fraud)
    assert fraud_checks["replicas"]["state"] == "CRIT"
    assert fraud["reasons"][0] == "0 of 1 replicas ready (fraud-stable in mlops-production)"
    assert fraud_checks["autoscaler"] == {
        "name": "autoscaler",
        "area": "infrastructure",
        "state": "UNKNOWN",
        "value": None,
        "reason": "autoscaler of fraud-stable in mlops-production: "
        "kube_horizontalpodautoscaler_status_current_replicas not exported (is kube-state-metrics installed and scraped?)",
    }

    assert score["state"] == "WARN"
    restarts = _checks(score)[f"restarts:{SCORE_POD}"]
    assert restarts["state"] == "WARN"
    assert restarts["value"] == 1.0
    assert restarts["reason"] == (
        f"{SCORE_POD}: restarted 1x over 1h; last terminated: OOMKilled (raise serving.kubernetes.resources.limits.memory)"
    )
    assert score["kubernetes"]["pods"][0]["last_terminated"] == "OOMKilled"


@pytest.mark.prometheus
@pytest.mark.slow
def test_status_table_shows_replicas_and_pods(cluster: Cluster) -> None:
    result = _status(cluster)
    assert result.code == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"source: Prometheus at {cluster.prometheus_url}"
    fraud = next(i for i, line in enumerate(lines) if "production/fraud@2" in line)
    assert re.match(
        r"CRIT    production/fraud@2 \(stable\) +0 of 1 replicas ready \(fraud-stable in mlops-production\); ",
        lines[fraud],
    )
    assert lines[fraud + 1] == "        fraud-stable in mlops-production: 0 of 1 replicas ready, autoscaler - of -"
    assert lines[fraud + 2] == f"        {FRAUD_POD}  CPU 0.00 cores  memory 50.0 MiB  restarts 0"
    score = next(i for i, line in enumerate(lines) if "production/score@3" in line)
    assert re.match(rf"WARN    production/score@3 \(stable\) +{SCORE_POD}: restarted 1x over 1h; ", lines[score])
    assert lines[score + 1] == "        score-stable in mlops-production: 1 of 1 replicas ready, autoscaler 1 of 3"
    assert lines[score + 2] == f"        {SCORE_POD}  CPU 0.00 cores  memory 50.0 MiB  restarts 1 (last: OOMKilled)"


def test_kubernetes_status_without_prometheus_says_why(tmp_path: Path) -> None:
    repo = make_cluster_repo(tmp_path, ENV, {"churn": 1})
    result = run_cli_process("status", "--repo", str(repo.root), "--env", ENV)
    assert result.code == 3, result.stdout + result.stderr
    assert result.stdout == ""
    assert (
        "environment 'production' runs on the kubernetes target: its health is read from Prometheus only "
        "(the pods are not reachable from outside the cluster), and no Prometheus URL is configured"
    ) in result.stderr
    assert "set prometheus.url in ~/.config/mlopsctl/config.yaml or MLOPS_PROMETHEUS_URL" in result.stderr


@pytest.mark.prometheus
@pytest.mark.slow
def test_a_gateway_canary_is_read_from_its_own_deployment(cluster: Cluster) -> None:
    result = _status(cluster, "-o", "json")
    deployments = {(d["model"], d["role"]): d for d in json.loads(result.stdout)["deployments"]}
    stable, canary = deployments[("prices", "stable")], deployments[("prices", "canary")]
    assert (stable["version"], canary["version"]) == (1, 2)
    assert stable["kubernetes"]["deployment"] == "prices-stable"
    assert [pod["pod"] for pod in stable["kubernetes"]["pods"]] == [PRICES_PODS[0]]
    assert canary["kubernetes"]["deployment"] == "prices-candidate"
    assert [pod["pod"] for pod in canary["kubernetes"]["pods"]] == [PRICES_PODS[1]]
    assert stable["values"]["requests"] == 0
    assert canary["values"]["requests"] > 0  # its series say role stable, version 2: found by version


@pytest.mark.prometheus
@pytest.mark.slow
def test_the_dashboard_refresh_carries_the_cluster_checks(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", cluster.prometheus_url)
    report = health_fetcher()(open_repo(cluster.root))
    overview = read_overview(cluster.root)
    overview.merge_health(report)
    fraud, score, churn = overview.models["fraud"], overview.models["score"], overview.models["churn"]
    assert fraud.state == "CRIT"
    assert fraud.reasons[0] == "production v2: 0 of 1 replicas ready (fraud-stable in mlops-production)"
    assert score.state == "WARN"
    assert score.reasons[0].startswith(f"production v3: {SCORE_POD}: restarted 1x over 1h; last terminated: OOMKilled")
    assert (churn.state, churn.reasons) == ("OK", [])
    (churn_health,) = [d for d in report.deployments if d.model == "churn"]
    assert churn_health.values["memory_bytes"] == 50 * 2**20  # the dashboard's live memory figure
    assert churn_health.values["ready_replicas"] == 2


def test_without_prometheus_every_environment_at_once_still_judges_the_others(tmp_path: Path) -> None:
    repo = make_cluster_repo(tmp_path, ENV, {"churn": 1})
    staging = repo.root / "environments" / "staging.yaml"
    staging.write_text("apiVersion: mlopsctl/v1\nkind: Environment\nname: staging\ntarget: local\ndeployments: {}\n")
    result = run_cli_process("status", "--repo", str(repo.root), "-o", "json")
    report = json.loads(result.stdout)
    (churn,) = [d for d in report["deployments"] if d["env"] == ENV]
    assert churn["state"] == "UNKNOWN"
    assert churn["reasons"] == [
        "environment 'production' runs on the kubernetes target: its health is read from Prometheus only "
        "(the pods are not reachable from outside the cluster), and no Prometheus URL is configured"
    ]
    one_env = run_cli_process("status", "--repo", str(repo.root), "--env", ENV)
    assert one_env.code == 3  # asked for it alone: its health cannot be read at all
