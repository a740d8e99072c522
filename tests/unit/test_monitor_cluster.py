"""Kubernetes deployments' health queries (issue 17): names as rendered, a bounded batch per status."""

from __future__ import annotations

import re
from pathlib import Path

from mlopsctl.monitor.cluster import Selection
from mlopsctl.monitor.health import cluster_queries, window_queries
from mlopsctl.monitor.targets import Workload, kubernetes_workloads
from mlopsctl.spec.loader import open_repo


def _environment(root: Path, name: str, body: str) -> None:
    header = f"apiVersion: mlopsctl/v1\nkind: Environment\nname: {name}\n"
    (root / "environments" / f"{name}.yaml").write_text(header + body)


def test_workloads_are_named_as_render_names_them(model_repo: Path) -> None:
    deployments = (
        "deployments:\n"
        "  churn:\n    version: 1\n    candidate: 2\n    strategy: canary\n    weight: 10\n"
        "  fraud:\n    version: 3\n    candidate: 4\n    strategy: shadow\n"
        "  local-one:\n    version: 1\n    target: local\n"
    )
    _environment(model_repo, "production", "target: kubernetes\n" + deployments)
    _environment(
        model_repo,
        "staging",
        "target: kubernetes\nnamespace: team-a\nkubernetes:\n  routing: in-process\n" + deployments,
    )
    repo = open_repo(model_repo)
    assert kubernetes_workloads(repo, "production") == {
        ("churn", "stable"): Workload("mlops-production", "churn-stable"),
        ("churn", "canary"): Workload("mlops-production", "churn-candidate"),
        ("fraud", "stable"): Workload("mlops-production", "fraud-stable"),
        ("fraud", "shadow"): Workload("mlops-production", "fraud-candidate"),
    }
    # in-process routing: the candidate answers inside the stable pods
    assert kubernetes_workloads(repo, "staging")[("churn", "canary")] == Workload("team-a", "churn-stable")


def test_a_deployments_pods_and_no_others() -> None:
    pattern = Workload("mlops-production", "churn-stable").pod_pattern
    assert re.fullmatch(pattern, "churn-stable-7c9d8f6b5-x2k4p")
    assert not re.fullmatch(pattern, "churn-stable-stable-7c9d8f6b5-x2k4p")  # model "churn-stable"
    assert not re.fullmatch(pattern, "churn-candidate-7c9d8f6b5-x2k4p")


def _workloads(count: int) -> Selection:
    return Selection(tuple(Workload(f"mlops-env{i % 3}", f"model{i}-stable") for i in range(count)))


def test_queries_per_status_do_not_grow_with_deployments() -> None:
    one, many = cluster_queries(3600, _workloads(1)), cluster_queries(3600, _workloads(300))
    assert len(one) == len(many) == 18
    assert len(window_queries(3600)) == 13


def test_exporter_queries_select_namespace_deployment_and_container() -> None:
    queries = cluster_queries(3600, Selection((Workload("mlops-production", "churn-stable"),)))
    envs = ["production"]
    pods = 'namespace=~"mlops-production",pod=~"churn-stable-[a-z0-9]+-[a-z0-9]+"'
    assert queries["k8s_cpu"].promql(envs) == (
        f'sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{{pods},container="serve"}}[3600s]))'
    )
    assert queries["k8s_memory"].promql(envs) == (
        f'max by (namespace, pod) (container_memory_working_set_bytes{{{pods},container="serve"}})'
    )
    series = f'kube_pod_container_status_restarts_total{{{pods},container="serve"}}[3600s]'
    assert queries["k8s_restarts"].promql(envs) == (
        f"sum by (namespace, pod) (max_over_time({series}) - min_over_time({series}))"
    )
    assert queries["k8s_available"].promql(envs) == (
        'max by (namespace, deployment) (kube_deployment_status_replicas_available{namespace=~"mlops-production",'
        'deployment=~"churn-stable"})'
    )
    assert queries["k8s_hpa_max"].promql(envs) == (
        "max by (namespace, horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas"
        '{namespace=~"mlops-production",horizontalpodautoscaler=~"churn-stable"})'
    )
    # the service's own series: by namespace and pod, keyed by version (a gateway-api candidate says role stable)
    assert queries["requests"].promql(envs) == (
        "sum by (namespace, model, version, code) (increase(mlops_requests_total"
        f'{{route!~"/metrics|/health.*|/metadata.*",{pods},env=~"production"}}[3600s]))'
    )
