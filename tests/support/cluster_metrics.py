"""A cluster seen through its exporters, without a cluster: series a real Prometheus scrapes.

:class:`ClusterPage` writes one text exposition page holding what a Kubernetes monitoring stack
would make Prometheus store for a kubernetes environment: cAdvisor's CPU and memory of container
``serve``, kube-state-metrics' restarts, last termination reason, Deployment replicas and
autoscaler replicas, and the prediction service's own series labelled as the rendered PodMonitor
scrapes them (``namespace``, ``pod``, ``container`` from the Prometheus Operator; ``env`` and
``service`` from its relabelings). It is served on 127.0.0.1 by
:class:`tests.support.services.MetricsHTTPServer`; the test changes the counters between scrapes
(``restarts``, ``requests``) and waits for Prometheus to have seen them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.gitops_repo import GitopsRepo, git, make_gitops_repo


@dataclass
class Pod:
    """One pod of a Deployment: what cAdvisor and kube-state-metrics say of it."""

    name: str
    cpu_seconds: float = 0.0
    memory_bytes: float = 50 * 2**20
    restarts: int = 0
    oom_killed: bool = False


@dataclass
class Workload:
    """A rendered Deployment (``<model>-stable``) of one model version, its autoscaler and pods."""

    model: str
    version: int
    pods: list[Pod]
    ready: int
    desired: int
    autoscaler: tuple[int, int] | None = None
    """(current, max) replicas of its HorizontalPodAutoscaler; None: not exported."""
    requests: int = 0
    """Predictions answered (code 200) so far, by the first pod."""
    kind: str = "stable"
    """stable, or candidate: a Gateway API candidate's own Deployment, whose service answers (and
    labels its series) as the only version it holds, role stable."""

    @property
    def deployment(self) -> str:
        return f"{self.model}-{self.kind}"


@dataclass
class ClusterPage:
    """The exposition page for one namespace, and a decoy namespace that must never be read."""

    env: str
    namespace: str
    workloads: list[Workload]
    started: float = field(default_factory=lambda: time.time() - 600)

    def text(self) -> str:
        lines: list[str] = []
        for workload in self.workloads:
            lines += self._deployment(workload)
            for pod in workload.pods:
                lines += self._pod(pod)
            lines += self._service(workload, self.namespace, workload.pods[0].name, workload.requests, 0)
            # the same model in another namespace (another cluster tenant): selected out by namespace
            lines += self._service(workload, "other-team", workload.pods[0].name, 1000, 1000)
        return "\n".join(lines) + "\n"

    def _deployment(self, w: Workload) -> list[str]:
        where = f'namespace="{self.namespace}",deployment="{w.deployment}"'
        lines = [
            f"kube_deployment_status_replicas_available{{{where}}} {w.ready}",
            f"kube_deployment_spec_replicas{{{where}}} {w.desired}",
        ]
        if w.autoscaler is not None:
            hpa = f'namespace="{self.namespace}",horizontalpodautoscaler="{w.deployment}"'
            lines.append(f"kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}} {w.autoscaler[0]}")
            lines.append(f"kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}} {w.autoscaler[1]}")
        return lines

    def _pod(self, pod: Pod) -> list[str]:
        serve = f'namespace="{self.namespace}",pod="{pod.name}",container="serve"'
        pause = f'namespace="{self.namespace}",pod="{pod.name}",container="POD"'
        lines = [
            f"container_cpu_usage_seconds_total{{{serve}}} {pod.cpu_seconds}",
            f"container_cpu_usage_seconds_total{{{pause}}} 999",  # the pause container: not the service
            f"container_memory_working_set_bytes{{{serve}}} {pod.memory_bytes}",
            f"kube_pod_container_status_restarts_total{{{serve}}} {pod.restarts}",
            f'up{{namespace="{self.namespace}",pod="{pod.name}",env="{self.env}"}} 1',
            f'process_start_time_seconds{{namespace="{self.namespace}",pod="{pod.name}"}} {self.started}',
        ]
        if pod.oom_killed:
            lines.append(f'kube_pod_container_status_last_terminated_reason{{{serve},reason="OOMKilled"}} 1')
        return lines

    def _service(self, w: Workload, namespace: str, pod: str, ok: int, failed: int) -> list[str]:
        labels = (
            f'namespace="{namespace}",pod="{pod}",container="serve",env="{self.env}",service="{w.model}",'
            f'model="{w.model}",version="{w.version}",role="stable",route="/predict"'
        )
        return [
            f'mlops_requests_total{{{labels},code="200"}} {ok}',
            f'mlops_requests_total{{{labels},code="500"}} {failed}',
        ]


def make_cluster_repo(base: Path, env: str, models: dict[str, int | str]) -> GitopsRepo:
    """A repository whose environment ``env`` runs ``models`` on the kubernetes target: name to its
    version, or to its deployment's YAML lines (e.g. a canary), versions 1-3 of each registered."""
    repo = make_gitops_repo(base, models=tuple(models))
    deployments = "".join(f"  {name}:\n{_deployment_lines(body)}" for name, body in models.items())
    text = f"apiVersion: mlopsctl/v1\nkind: Environment\nname: {env}\ntarget: kubernetes\ndeployments:\n{deployments}"
    (repo.root / "environments" / f"{env}.yaml").write_text(text)
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-q", "-m", f"{env} on kubernetes")
    return repo


def _deployment_lines(body: int | str) -> str:
    lines = [f"version: {body}"] if isinstance(body, int) else body.splitlines()
    return "".join(f"    {line}\n" for line in lines)
