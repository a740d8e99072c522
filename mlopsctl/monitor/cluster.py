"""Health of deployments on the kubernetes target: Kubernetes' own metric names, read from Prometheus.

The pods of a kubernetes environment are not reachable from outside the cluster, so their health
comes only from the Prometheus that scrapes the cluster. Next to the service's own series (which
:mod:`mlopsctl.monitor.health` selects by namespace and pod for these deployments), the exporters
every cluster monitoring stack runs say what the service cannot say about itself:

==========================  ===========================================================  ===================
what                        series                                                       judged by
==========================  ===========================================================  ===================
CPU per pod                 cAdvisor ``container_cpu_usage_seconds_total`` (rate)        monitoring.cpu_cores
memory per pod              cAdvisor ``container_memory_working_set_bytes``              monitoring.memory_bytes
restarts per pod            kube-state-metrics ``kube_pod_container_status_restarts_total``  WARN > 0, CRIT >= 3
                            (and ``..._last_terminated_reason{reason="OOMKilled"}``)
ready replicas              ``kube_deployment_status_replicas_available`` vs ``_spec_replicas``  CRIT 0, WARN < spec
autoscaler                  ``kube_horizontalpodautoscaler_status_current_replicas`` vs max  WARN at max
==========================  ===========================================================  ===================

Each query covers every kubernetes deployment checked (namespaces, Deployments and pods as
regular expressions), so a status costs the same queries for one pod or three hundred. Rates and
increases use the window the other checks use; restarts are counted exactly, as the highest minus
the lowest value inside the window (kube-state-metrics' counter belongs to one pod and never
resets, and ``increase()`` would extrapolate one restart to 1.5). A series no exporter sent (kube-state-metrics not
installed, cAdvisor not scraped) is named "not exported" and left UNKNOWN, never CRIT.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlopsctl.contract.metrics import PROCESS_START_TIME
from mlopsctl.monitor.judge import Check, State, level, past
from mlopsctl.monitor.sources import Matcher, Query, Result
from mlopsctl.monitor.targets import Workload
from mlopsctl.spec.models import MonitoringSpec

CONTAINER = "serve"
"""The service's container in every rendered pod."""
CPU = "container_cpu_usage_seconds_total"
MEMORY = "container_memory_working_set_bytes"
RESTARTS = "kube_pod_container_status_restarts_total"
LAST_TERMINATED = "kube_pod_container_status_last_terminated_reason"
AVAILABLE = "kube_deployment_status_replicas_available"
DESIRED = "kube_deployment_spec_replicas"
HPA_CURRENT = "kube_horizontalpodautoscaler_status_current_replicas"
HPA_MAX = "kube_horizontalpodautoscaler_spec_max_replicas"
RESTARTS_CRIT = 3
POD_LABELS = ("namespace", "pod")
DEPLOYMENT_LABELS = ("namespace", "deployment")
HPA_LABELS = ("namespace", "horizontalpodautoscaler")
KSM_HINT = "is kube-state-metrics installed and scraped?"


@dataclass(frozen=True)
class Selection:
    """Every kubernetes deployment a status checks, as PromQL matchers (one query covers them all)."""

    workloads: tuple[Workload, ...]

    @property
    def namespaces(self) -> Matcher:
        return ("namespace", "=~", _alternatives(w.namespace for w in self.workloads))

    @property
    def pods(self) -> Matcher:
        return ("pod", "=~", _alternatives(w.pod_pattern for w in self.workloads))

    def of(self, label: str) -> Matcher:
        """The Deployments (or autoscalers, named alike) under ``label``."""
        return (label, "=~", _alternatives(w.deployment for w in self.workloads))


def _alternatives(patterns: Iterable[str]) -> str:
    return "|".join(sorted(set(patterns)))


def exporter_queries(window: float, selection: Selection) -> dict[str, Query]:
    """cAdvisor and kube-state-metrics queries for one window, plus the pods' own start times (span)."""
    pods = (selection.namespaces, selection.pods)
    serve = (*pods, ("container", "=", CONTAINER))
    return {
        "k8s_up": Query("last", "up", POD_LABELS, 0.0, pods, scoped=False),
        "k8s_span": Query("span", PROCESS_START_TIME, POD_LABELS, window, pods, scoped=False),
        "k8s_cpu": Query("rate", CPU, POD_LABELS, window, serve, scoped=False),
        "k8s_memory": Query("last", MEMORY, POD_LABELS, 0.0, serve, scoped=False),
        "k8s_restarts": Query("growth", RESTARTS, POD_LABELS, window, serve, scoped=False),
        "k8s_oom": Query(
            "last", LAST_TERMINATED, POD_LABELS, 0.0, (*serve, ("reason", "=", "OOMKilled")), scoped=False
        ),
        "k8s_available": _by_deployment(AVAILABLE, DEPLOYMENT_LABELS, selection),
        "k8s_desired": _by_deployment(DESIRED, DEPLOYMENT_LABELS, selection),
        "k8s_hpa_current": _by_deployment(HPA_CURRENT, HPA_LABELS, selection),
        "k8s_hpa_max": _by_deployment(HPA_MAX, HPA_LABELS, selection),
    }


def _by_deployment(metric: str, by: tuple[str, str], selection: Selection) -> Query:
    return Query("last", metric, by, 0.0, (selection.namespaces, selection.of(by[1])), scoped=False)


# --------------------------------------------------------------------------- what was read


@dataclass
class PodHealth:
    """One pod of a Deployment, as cAdvisor and kube-state-metrics see it."""

    name: str
    cpu_cores: float | None = None
    memory_bytes: float | None = None
    restarts: float | None = None
    oom_killed: bool = False
    scraped: float | None = None
    """The ``up`` of the service's own metrics in this pod (None: Prometheus does not scrape it)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pod": self.name,
            "cpu_cores": _finite(self.cpu_cores),
            "memory_bytes": _finite(self.memory_bytes),
            "restarts": _finite(self.restarts),
            "last_terminated": "OOMKilled" if self.oom_killed else None,
            "up": _finite(self.scraped),
        }


@dataclass
class ClusterHealth:
    """A deployment's Deployment in the cluster: its replicas, its autoscaler and its pods."""

    namespace: str
    deployment: str
    ready_replicas: float | None = None
    desired_replicas: float | None = None
    autoscaler_replicas: float | None = None
    autoscaler_max: float | None = None
    pods: list[PodHealth] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "deployment": self.deployment,
            "ready_replicas": _finite(self.ready_replicas),
            "desired_replicas": _finite(self.desired_replicas),
            "autoscaler_replicas": _finite(self.autoscaler_replicas),
            "autoscaler_max_replicas": _finite(self.autoscaler_max),
            "pods": [pod.to_dict() for pod in self.pods],
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def read_cluster(workload: Workload, by_query: Mapping[str, list[Result]]) -> tuple[ClusterHealth, float | None]:
    """What the exporters say of ``workload``, and the span its pods' metrics cover (the longest)."""
    found = ClusterHealth(workload.namespace, workload.deployment)
    deployment_key = (workload.namespace, workload.deployment)
    found.ready_replicas = _value(by_query, "k8s_available", DEPLOYMENT_LABELS, deployment_key)
    found.desired_replicas = _value(by_query, "k8s_desired", DEPLOYMENT_LABELS, deployment_key)
    found.autoscaler_replicas = _value(by_query, "k8s_hpa_current", HPA_LABELS, deployment_key)
    found.autoscaler_max = _value(by_query, "k8s_hpa_max", HPA_LABELS, deployment_key)
    per_pod = _pod_values(workload, by_query)
    found.pods = [_pod(name, values) for name, values in sorted(per_pod.items())]
    spans = [s for s in (values.get("k8s_span") for values in per_pod.values()) if s is not None and s > 0]
    return found, max(spans, default=None)


def _value(
    by_query: Mapping[str, list[Result]], name: str, labels: tuple[str, str], key: tuple[str, str]
) -> float | None:
    rows = [r for r in by_query.get(name, []) if (r.labels.get(labels[0]), r.labels.get(labels[1])) == key]
    return rows[0].value if rows else None


def _pod_values(workload: Workload, by_query: Mapping[str, list[Result]]) -> dict[str, dict[str, float]]:
    """Pod name to {query name: value} for the pods of ``workload`` (a pod's Deployment is its name
    without the ReplicaSet hash and suffix)."""
    per_pod: dict[str, dict[str, float]] = defaultdict(dict)
    for name in ("k8s_up", "k8s_span", "k8s_cpu", "k8s_memory", "k8s_restarts", "k8s_oom"):
        for row in by_query.get(name, []):
            pod = row.labels.get("pod", "")
            if row.labels.get("namespace") == workload.namespace and pod.rsplit("-", 2)[0] == workload.deployment:
                per_pod[pod][name] = row.value
    return per_pod


def _pod(name: str, values: dict[str, float]) -> PodHealth:
    restarts = values.get("k8s_restarts")
    return PodHealth(
        name,
        cpu_cores=values.get("k8s_cpu"),
        memory_bytes=values.get("k8s_memory"),
        restarts=None if restarts is None or math.isnan(restarts) else float(round(restarts)),
        oom_killed=values.get("k8s_oom", 0.0) >= 1,
        scraped=values.get("k8s_up"),
    )


# --------------------------------------------------------------------------- judging


def cluster_checks(found: ClusterHealth, monitoring: MonitoringSpec, span: str, window: str) -> list[Check]:
    """Replicas, autoscaler, scraping and per-pod CPU, memory and restarts of one Deployment.

    ``span``: what rates cover ("over 2m of 1h" for young pods); ``window``: what counts cover."""
    where = f"{found.deployment} in {found.namespace}"
    checks = [replicas_check(found, where), autoscaler_check(found, where), scraped_check(found, where)]
    if not found.pods:
        reason = f"no cAdvisor series for the pods of {where} (container {CONTAINER}): not exported"
        checks.append(Check("pods", "infrastructure", State.UNKNOWN, None, reason))
    for pod in found.pods:
        checks += [_cpu(pod, monitoring, span), _memory(pod, monitoring), _restarts(pod, window)]
    return checks


def replicas_check(found: ClusterHealth, where: str) -> Check:
    """CRIT when no replica is ready, WARN below the Deployment's desired count."""
    ready, desired = found.ready_replicas, found.desired_replicas
    if ready is None:
        reason = f"ready replicas of {where}: {AVAILABLE} not exported ({KSM_HINT})"
        return Check("replicas", "infrastructure", State.UNKNOWN, None, reason)
    of = f" of {desired:.0f}" if desired is not None else ""
    text = f"{ready:.0f}{of} replicas ready ({where})"
    if ready <= 0:
        return Check("replicas", "infrastructure", State.CRIT, ready, text)
    if desired is not None and ready < desired:
        return Check("replicas", "infrastructure", State.WARN, ready, text)
    return Check("replicas", "infrastructure", State.OK, ready, text)


def autoscaler_check(found: ClusterHealth, where: str) -> Check:
    """WARN when the autoscaler runs its most replicas: more load would find no room."""
    current, most = found.autoscaler_replicas, found.autoscaler_max
    if current is None or most is None:
        reason = f"autoscaler of {where}: {HPA_CURRENT if current is None else HPA_MAX} not exported ({KSM_HINT})"
        return Check("autoscaler", "infrastructure", State.UNKNOWN, None, reason)
    if current >= most:
        reason = (
            f"autoscaler at its maximum: {current:.0f} of {most:.0f} replicas ({where}); "
            "raise serving.kubernetes.max_replicas"
        )
        return Check("autoscaler", "infrastructure", State.WARN, current, reason)
    return Check("autoscaler", "infrastructure", State.OK, current, f"autoscaler {current:.0f} of {most:.0f} replicas")


def scraped_check(found: ClusterHealth, where: str) -> Check:
    """Whether Prometheus scrapes the service's own metrics in the pods (the rendered PodMonitor)."""
    scraped = [pod for pod in found.pods if pod.scraped is not None]
    if not scraped:
        reason = (
            f"the service's own metrics are not scraped: no `up` series for the pods of {where} "
            "(is the rendered PodMonitor applied and selected by Prometheus?)"
        )
        return Check("up", "infrastructure", State.UNKNOWN, None, reason)
    answering = sum(1 for pod in scraped if (pod.scraped or 0.0) >= 1)
    state = State.OK if answering == len(scraped) else State.WARN
    return Check("up", "infrastructure", state, answering, f"{answering} of {len(scraped)} pods answer scrapes")


def _cpu(pod: PodHealth, monitoring: MonitoringSpec, over: str) -> Check:
    name = f"cpu:{pod.name}"
    cores = pod.cpu_cores
    if cores is None or math.isnan(cores):
        return Check(name, "infrastructure", State.OK, None, f"{pod.name}: no CPU samples {over}")
    state = level(cores, monitoring.cpu_cores)
    bound = f" {past(cores, monitoring.cpu_cores)} cores" if state is not State.OK else " cores"
    return Check(name, "infrastructure", state, cores, f"{pod.name}: CPU {cores:.2f}{bound} {over}")


def _memory(pod: PodHealth, monitoring: MonitoringSpec) -> Check:
    name = f"memory:{pod.name}"
    size = pod.memory_bytes
    if size is None or math.isnan(size):
        return Check(name, "infrastructure", State.OK, None, f"{pod.name}: no memory sample")
    state = level(size, monitoring.memory_bytes)
    text = f"{pod.name}: memory {mebibytes(size)}"
    if state is not State.OK:
        bound = monitoring.memory_bytes.crit if state is State.CRIT else monitoring.memory_bytes.warn
        text += f" {'>' if size > bound else '>='} {mebibytes(bound)}"
    return Check(name, "infrastructure", state, size, f"{text} working set")


def _restarts(pod: PodHealth, over: str) -> Check:
    name = f"restarts:{pod.name}"
    if pod.restarts is None:
        reason = f"{pod.name}: restarts not exported ({RESTARTS}; {KSM_HINT})"
        return Check(name, "infrastructure", State.UNKNOWN, None, reason)
    oom = "; last terminated: OOMKilled (raise serving.kubernetes.resources.limits.memory)" if pod.oom_killed else ""
    text = f"{pod.name}: restarted {pod.restarts:.0f}x {over}{oom}"
    if pod.restarts >= RESTARTS_CRIT:
        return Check(name, "infrastructure", State.CRIT, pod.restarts, text)
    if pod.restarts > 0:
        return Check(name, "infrastructure", State.WARN, pod.restarts, text)
    return Check(name, "infrastructure", State.OK, 0.0, f"{pod.name}: no restarts {over}")


def mebibytes(size: float) -> str:
    """Bytes as people read memory: 52.4 MiB, 1.5 GiB."""
    if size >= 2**30:
        return f"{size / 2**30:.1f} GiB"
    return f"{size / 2**20:.1f} MiB"
