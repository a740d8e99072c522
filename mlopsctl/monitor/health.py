"""The health of every deployment: infrastructure and statistics, judged against its spec.

``collect_health`` asks the metrics source a fixed set of batched queries (one per metric and
window, for all deployments), then judges each deployment (model, version, role, environment):

* infrastructure: up, restarts, CPU and memory per instance (against ``monitoring.cpu_cores``
  and ``monitoring.memory_bytes``), request rate, error rate, p50/p95/p99 latency;
* statistics: PSI per feature and of the predictions, from the bin counters' increase over the
  window against the reference shares stored with the version; live performance once labels
  flow back (the service's ``mlops_live_performance`` against ``monitoring.performance``, judged
  once ``mlops_live_labels`` reaches ``min_observations``);
* comparison, for a shadow or canary: the share of rows where its answer agreed with the stable
  version's on the same rows (``mlops_agreed_rows_total`` over ``mlops_compared_rows_total``)
  against ``monitoring.shadow``, judged once ``min_observations`` rows were compared, with its p95
  latency and error rate next to the stable version's (no check when the service exports no
  comparison: an image from before it existed). The two comparison queries are asked only when a
  deployment has a candidate.

Deployments on the kubernetes target are read from Prometheus only (their pods are not reachable
from outside the cluster): the service's own series are selected by ``namespace`` and ``pod``, as
the rendered PodMonitor scrapes them, and keyed by (namespace, model, version); up, CPU, memory and
restarts come from Kubernetes' own exporters instead of the process metrics
(:mod:`mlopsctl.monitor.cluster`), with ready replicas and the autoscaler next to them.

Rates (requests and CPU per second) divide an increase by the span actually observed inside the
window (the source's ``span`` query), not by the whole window: a service that ran for 2 minutes
of a 1 h window is judged on those 2 minutes, and says so ("CPU 0.05 cores over 2m of 1h";
``observed_seconds`` and ``over`` in ``status -o json``). Counts, error ratios, latency quantiles
and PSI need no span: they are ratios of increases over what the window holds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from mlopsctl.contract import metrics as mc
from mlopsctl.contract.binning import bin_labels
from mlopsctl.contract.records import BinnedReference, Reference
from mlopsctl.errors import PrometheusUnreachable
from mlopsctl.monitor import stats
from mlopsctl.monitor.cache import HealthCache
from mlopsctl.monitor.cluster import ClusterHealth, Selection, cluster_checks, exporter_queries, mebibytes, read_cluster
from mlopsctl.monitor.judge import Check, State, level, past, psi_check
from mlopsctl.monitor.sources import (
    MetricsSource,
    PrometheusSource,
    Query,
    Result,
    metrics_source,
    scrape_errors,
)
from mlopsctl.monitor.targets import Endpoint, Workload, deployment_endpoints, kubernetes_workloads
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import MonitoringSpec, PerformanceMonitoring, duration_seconds

MODEL_LABELS = (mc.ENV, mc.MODEL, mc.VERSION, mc.ROLE)
INSTANCE_LABELS = (mc.ENV, "instance")
NON_PREDICTION_ROUTES = ("route", "!~", "/metrics|/health.*|/metadata.*")
"""Scrapes, probes and metadata calls are not predictions: they stay out of errors and latency."""
SHORT_SPAN = 0.95
"""A span observed below this share of the window is named with its rates ("over 2m of 1h")."""


@dataclass
class FeatureDrift:
    """One feature (or the predictions) of one deployment over a window."""

    feature: str
    kind: str
    observations: float
    missing: float
    psi: float
    chi2_pvalue: float | None
    state: State
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "observations": self.observations,
            "missing": self.missing,
            "psi": None if math.isnan(self.psi) else self.psi,
            "chi2_pvalue": self.chi2_pvalue,
            "state": str(self.state),
            "reason": self.reason,
        }


@dataclass
class DeploymentHealth:
    env: str
    model: str
    version: int
    role: str
    instance: str
    window: str
    window_seconds: float = 0.0
    observed_seconds: float | None = None
    """How much of the window the metrics cover (None when unknown); rates are per this span."""
    checks: list[Check] = field(default_factory=list)
    features: list[FeatureDrift] = field(default_factory=list)
    values: dict[str, float | None] = field(default_factory=dict)
    cluster: ClusterHealth | None = None
    """Replicas, autoscaler and pods of a deployment on the kubernetes target (None elsewhere)."""

    @property
    def state(self) -> State:
        return max((check.state for check in self.checks), default=State.UNKNOWN)

    @property
    def reasons(self) -> list[str]:
        """Reasons of the checks that are not OK, worst first."""
        bad = sorted((c for c in self.checks if c.state is not State.OK), key=lambda c: -c.state)
        return [check.reason for check in bad]

    def summary(self) -> str:
        return "; ".join(self.reasons) or f"all {len(self.checks)} checks ok"

    @property
    def over(self) -> str:
        """The span the figures cover, as the reasons say it: "over 1h", or "over 2m of 1h"."""
        return over_text(self.window, self.window_seconds, self.observed_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "model": self.model,
            "version": self.version,
            "role": self.role,
            "instance": self.instance,
            "window": self.window,
            "window_seconds": self.window_seconds,
            "observed_seconds": _finite(self.observed_seconds),
            "over": self.over,
            "state": str(self.state),
            "reasons": self.reasons,
            "values": {k: _finite(v) for k, v in self.values.items()},
            "checks": [check.to_dict() for check in self.checks],
            "features": [feature.to_dict() for feature in self.features],
            **({"kubernetes": self.cluster.to_dict()} if self.cluster is not None else {}),
        }


@dataclass
class HealthReport:
    source: str
    deployments: list[DeploymentHealth]

    @property
    def state(self) -> State:
        return max((d.state for d in self.deployments), default=State.OK)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "state": str(self.state),
            "deployments": [d.to_dict() for d in self.deployments],
        }


# --------------------------------------------------------------------------- queries


def window_queries(window: float) -> dict[str, Query]:
    """The batched queries for one window: each covers every deployment."""
    model_by = MODEL_LABELS
    return {
        "up": Query("last", "up", INSTANCE_LABELS),
        "memory": Query("last", mc.PROCESS_RESIDENT_MEMORY, INSTANCE_LABELS),
        "starts": Query("changes", mc.PROCESS_START_TIME, INSTANCE_LABELS, window),
        "span": Query("span", mc.PROCESS_START_TIME, INSTANCE_LABELS, window),
        "cpu": Query("increase", mc.PROCESS_CPU_SECONDS, INSTANCE_LABELS, window),
        "requests": Query("increase", mc.REQUESTS_TOTAL, (*model_by, mc.CODE), window, (NON_PREDICTION_ROUTES,)),
        "latency": Query(
            "increase", f"{mc.REQUEST_DURATION}_bucket", (*model_by, "le"), window, (NON_PREDICTION_ROUTES,)
        ),
        "bins": Query("increase", mc.FEATURE_BIN_TOTAL, (*model_by, mc.FEATURE, mc.BIN), window),
        "missing": Query("increase", mc.FEATURE_MISSING_TOTAL, (*model_by, mc.FEATURE), window),
        "prediction": Query("increase", mc.PREDICTION_BIN_TOTAL, (*model_by, mc.BIN), window),
        "feedback": Query("increase", mc.FEEDBACK_TOTAL, model_by, window),
        "live": Query("last", mc.LIVE_PERFORMANCE, (*model_by, mc.METRIC)),
        "live_labels": Query("last", mc.LIVE_LABELS, (*model_by, mc.METRIC)),
    }


def comparison_queries(window: float) -> dict[str, Query]:
    """The candidates' comparison with their stable version, asked only when some deployment has one."""
    by = (*MODEL_LABELS, mc.STABLE_VERSION)
    return {
        "compared": Query("increase", mc.COMPARED_ROWS_TOTAL, by, window),
        "agreed": Query("increase", mc.AGREED_ROWS_TOTAL, by, window),
    }


CANDIDATE_ROLES = ("shadow", "canary")


class _Answers:
    """Results of one window's queries, indexed by the labels deployments are looked up by."""

    def __init__(self, by_query: dict[str, list[Result]]) -> None:
        self.by_query = by_query
        self._index: dict[tuple[str, tuple[str, ...]], dict[tuple[str, ...], list[Result]]] = {}

    def rows(self, name: str, key: dict[str, str]) -> list[Result]:
        labels = tuple(key)
        index = self._index.get((name, labels))
        if index is None:
            index = self._build(self.by_query.get(name, []), labels)
            self._index[(name, labels)] = index
        return index.get(tuple(key.values()), [])

    @staticmethod
    def _build(results: list[Result], labels: tuple[str, ...]) -> dict[tuple[str, ...], list[Result]]:
        index: dict[tuple[str, ...], list[Result]] = defaultdict(list)
        if results and tuple(results[0].labels)[: len(labels)] == labels:
            size = len(labels)  # the usual case: the key is a prefix of the query's labels
            for result in results:
                index[tuple(result.labels.values())[:size]].append(result)
            return index
        for result in results:
            index[tuple(result.labels.get(label, "") for label in labels)].append(result)
        return index

    def value(self, name: str, key: dict[str, str]) -> float | None:
        found = self.rows(name, key)
        return found[0].value if found else None


SetKey = TypeVar("SetKey", bound=Hashable)
SERVICE_SERIES = ("requests", "latency", "bins", "missing", "prediction", "feedback", "live", "live_labels")
"""The service's own series, which kubernetes deployments read selected by namespace and pod."""
COMPARISON_SERIES = ("compared", "agreed")
CLUSTER_KEY = ("namespace", mc.MODEL, mc.VERSION)
"""A kubernetes deployment's series: a gateway-api candidate serves its version alone, as role stable."""


def cluster_queries(window: float, selection: Selection, candidates: bool = False) -> dict[str, Query]:
    """The queries for the kubernetes deployments of ``selection`` over one window (``candidates``:
    with the comparison queries)."""
    plain = window_queries(window) | (comparison_queries(window) if candidates else {})
    pods = (selection.namespaces, selection.pods)
    service = {
        name: replace(query, by=(*CLUSTER_KEY, *query.by[4:]), match=(*query.match, *pods))
        for name, query in plain.items()
        if name in SERVICE_SERIES or name in COMPARISON_SERIES
    }
    return {**service, **exporter_queries(window, selection)}


def fetch_all(source: MetricsSource, windows: Sequence[float]) -> dict[float, _Answers]:
    """Every distinct query once, in one batch; the answers per window."""
    return fetch_sets(source, {window: window_queries(window) for window in windows})


def fetch_sets(source: MetricsSource, sets: dict[SetKey, dict[str, Query]]) -> dict[SetKey, _Answers]:
    """Every distinct query of every set once, in one batch; the answers per set."""
    unique = list(dict.fromkeys(q for queries in sets.values() for q in queries.values()))
    results = dict(zip(unique, source.fetch(unique), strict=True))
    return {key: _Answers({name: results[q] for name, q in queries.items()}) for key, queries in sets.items()}


# --------------------------------------------------------------------------- collection


@dataclass
class _Context:
    endpoint: Endpoint
    monitoring: MonitoringSpec
    window: float
    window_text: str
    reference: Reference | None
    reference_problem: str
    workload: Workload | None = None
    """Where it runs in a cluster (kubernetes target); None for the local and docker targets."""
    stable_version: int | None = None
    """For a shadow or canary: the version it is compared with (the stable one of its deployment)."""

    @property
    def series_key(self) -> dict[str, str]:
        """The labels the service's own series of this deployment are found by."""
        e = self.endpoint
        if self.workload is None:
            return _model_key(e)
        return {"namespace": self.workload.namespace, mc.MODEL: e.model, mc.VERSION: str(e.version)}

    def stable_key(self) -> dict[str, str]:
        """The labels of the stable version's own series, next to this candidate."""
        found = {**self.series_key, mc.VERSION: str(self.stable_version)}
        return found if self.workload is not None else {**found, mc.ROLE: "stable"}

    @property
    def compared_in_process(self) -> bool:
        """A candidate whose service also holds the stable version (a gateway-api candidate runs alone)."""
        separate = self.workload is not None and self.workload.deployment.endswith("-candidate")
        return self.endpoint.role in CANDIDATE_ROLES and self.stable_version is not None and not separate

    @property
    def answers_key(self) -> tuple[str, float]:
        return ("kubernetes" if self.workload is not None else "process", self.window)


def collect_health(
    repo: Repo,
    env: str | None = None,
    *,
    window: str | None = None,
    models: Sequence[str] | None = None,
    source: MetricsSource | None = None,
) -> HealthReport:
    """Judge every deployment of ``env`` (all environments when None)."""
    envs = [env] if env else sorted(repo.environments)
    endpoints = [e for name in envs for e in deployment_endpoints(repo, name)]
    if models is not None:
        endpoints = [e for e in endpoints if e.model in models]
    workloads = {(name, *where): w for name in envs for where, w in kubernetes_workloads(repo, name).items()}
    source = source or metrics_source(repo.settings.prometheus, endpoints)
    unread: list[Endpoint] = []
    if workloads and not isinstance(source, PrometheusSource):
        if env is not None:
            raise no_prometheus_for([env])
        # Every environment at once: the others are still read; the cluster's deployments say why not.
        unread = [e for e in endpoints if (e.env, e.model, e.role) in workloads]
        endpoints = [e for e in endpoints if (e.env, e.model, e.role) not in workloads]
        source = metrics_source(repo.settings.prometheus, endpoints)
        workloads = {}
    cache = HealthCache(repo.root, repo.state_dir)
    stables = {(e.env, e.model): e.version for e in endpoints if e.role == "stable"}
    contexts = [
        _context(repo, e, window, cache, workloads.get((e.env, e.model, e.role)), stables.get((e.env, e.model)))
        for e in endpoints
    ]
    cache.save()
    answers = fetch_sets(source, _query_sets(contexts)) if contexts else {}
    errors = scrape_errors(source)
    deployments = [judge_deployment(c, answers[c.answers_key], errors) for c in contexts]
    deployments += [_not_read(e, window or "") for e in unread]
    return HealthReport(source.description, deployments)


def _not_read(endpoint: Endpoint, window: str) -> DeploymentHealth:
    """A deployment on the kubernetes target while no Prometheus URL is set: UNKNOWN, saying why."""
    why = no_prometheus_for([endpoint.env]).message
    check = Check("up", "infrastructure", State.UNKNOWN, None, why)
    e = endpoint
    return DeploymentHealth(e.env, e.model, e.version, e.role, e.instance, window, checks=[check])


def no_prometheus_for(envs: Sequence[str]) -> PrometheusUnreachable:
    """Why a kubernetes environment's health cannot be read without a Prometheus URL (exit 3)."""
    named = ", ".join(f"'{env}'" for env in envs)
    return PrometheusUnreachable(
        f"environment {named} runs on the kubernetes target: its health is read from Prometheus only "
        "(the pods are not reachable from outside the cluster), and no Prometheus URL is configured",
        hint="set prometheus.url in ~/.config/mlopsctl/config.yaml or MLOPS_PROMETHEUS_URL "
        "(or in mlops.yaml) to the Prometheus that scrapes the cluster",
    )


def _query_sets(contexts: Sequence[_Context]) -> dict[tuple[str, float], dict[str, Query]]:
    """One set of queries per window for the process targets, one per window for the cluster."""
    sets: dict[tuple[str, float], dict[str, Query]] = {}
    workloads = tuple(dict.fromkeys(c.workload for c in contexts if c.workload is not None))
    compared = {c.answers_key for c in contexts if c.compared_in_process}
    for ctx in contexts:
        kind, window = ctx.answers_key
        if ctx.answers_key not in sets:
            candidates = ctx.answers_key in compared
            sets[ctx.answers_key] = (
                cluster_queries(window, Selection(workloads), candidates)
                if kind == "kubernetes"
                else window_queries(window) | (comparison_queries(window) if candidates else {})
            )
    return sets


def _context(
    repo: Repo,
    endpoint: Endpoint,
    window: str | None,
    cache: HealthCache,
    workload: Workload | None,
    stable_version: int | None = None,
) -> _Context:
    spec = repo.models.get(endpoint.model)
    monitoring = spec.monitoring if spec is not None else cache.monitoring(endpoint.model) or MonitoringSpec()
    text = window or monitoring.window
    reference, problem = cache.reference(endpoint.model, endpoint.version)
    stable = stable_version if endpoint.role in CANDIDATE_ROLES else None
    return _Context(endpoint, monitoring, duration_seconds(text), text, reference, problem, workload, stable)


def judge_deployment(ctx: _Context, answers: _Answers, scrape_errors: dict[tuple[str, str], str]) -> DeploymentHealth:
    e = ctx.endpoint
    health = DeploymentHealth(e.env, e.model, e.version, e.role, e.instance, ctx.window_text, ctx.window)
    over = f"over {ctx.window_text}"  # counts, ratios and quantiles: everything the window holds
    if ctx.workload is None:
        health.observed_seconds = _observed(answers.value("span", _instance_key(e)))
        _infrastructure(health, ctx, answers, scrape_errors.get((e.env, e.instance)), over)
    else:
        _cluster(health, ctx, ctx.workload, answers, over)
    _traffic(health, ctx, answers, over)
    _statistics(health, ctx, answers, over)
    if ctx.compared_in_process:
        _agreement(health, ctx, answers, over)
    return health


def over_text(window_text: str, window: float, observed: float | None) -> str:
    """ "over 1h", or "over 2m of 1h" when the metrics cover clearly less than the window."""
    if observed is None or observed >= window * SHORT_SPAN:
        return f"over {window_text}"
    return f"over {span_text(observed)} of {window_text}"


def span_text(seconds: float) -> str:
    """A span in the window's units, rounded down: 45s, 2m, 90m, 3h."""
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 3 * 3600:
        return f"{int(seconds // 60)}m"
    return f"{int(seconds // 3600)}h"


def _observed(span: float | None) -> float | None:
    return span if span is not None and math.isfinite(span) and span > 0 else None


def per_second(increase: float | None, observed: float | None) -> float | None:
    """An increase over the observed span, per second; None when either is unknown."""
    if increase is None or observed is None or math.isnan(increase):
        return None
    return increase / observed


def _model_key(e: Endpoint) -> dict[str, str]:
    return {mc.ENV: e.env, mc.MODEL: e.model, mc.VERSION: str(e.version), mc.ROLE: e.role}


def _instance_key(e: Endpoint) -> dict[str, str]:
    return {mc.ENV: e.env, "instance": e.instance}


# --------------------------------------------------------------------------- infrastructure


def _infrastructure(health: DeploymentHealth, ctx: _Context, answers: _Answers, error: str | None, over: str) -> None:
    key = _instance_key(ctx.endpoint)
    up = answers.value("up", key)
    health.values["up"] = up
    health.values["restarts"] = answers.value("starts", key)
    health.values["cpu_cores"] = per_second(answers.value("cpu", key), health.observed_seconds)
    health.values["memory_bytes"] = answers.value("memory", key)
    health.checks.append(_up_check(up, ctx.endpoint, error))
    health.checks.append(_cpu_check(health.values["cpu_cores"], ctx.monitoring, health.over))
    health.checks.append(_memory_check(health.values["memory_bytes"], ctx.monitoring))
    restarts = health.values["restarts"]
    if restarts:
        state = State.WARN
        health.checks.append(Check("restarts", "infrastructure", state, restarts, f"restarted {restarts:.0f}x {over}"))


def _cluster(health: DeploymentHealth, ctx: _Context, workload: Workload, answers: _Answers, over: str) -> None:
    """Up, CPU, memory and restarts from Kubernetes' exporters, per pod; ready replicas; the autoscaler."""
    found, span = read_cluster(workload, answers.by_query)
    health.cluster = found
    health.observed_seconds = _observed(span)
    cpu = [pod.cpu_cores for pod in found.pods if pod.cpu_cores is not None and not math.isnan(pod.cpu_cores)]
    memory = [pod.memory_bytes for pod in found.pods if pod.memory_bytes is not None]
    restarts = [pod.restarts for pod in found.pods if pod.restarts is not None]
    health.values["cpu_cores"] = sum(cpu) if cpu else None
    health.values["memory_bytes"] = max(memory, default=None)
    health.values["restarts"] = sum(restarts) if restarts else None
    health.values["ready_replicas"] = found.ready_replicas
    health.values["desired_replicas"] = found.desired_replicas
    health.checks.extend(cluster_checks(found, ctx.monitoring, health.over, over))


def _up_check(up: float | None, e: Endpoint, error: str | None) -> Check:
    if up is None:
        reason = f"not scraped: no `up` series for {e.instance} in env {e.env} (is it in the scrape config?)"
        return Check("up", "infrastructure", State.CRIT, None, reason)
    if up < 1:
        detail = f": {error}" if error else " (up == 0)"
        return Check("up", "infrastructure", State.CRIT, up, f"service down at {e.instance}{detail}")
    return Check("up", "infrastructure", State.OK, up, f"up at {e.instance}")


def _cpu_check(cores: float | None, monitoring: MonitoringSpec, over: str) -> Check:
    if cores is None or math.isnan(cores):
        return Check("cpu", "infrastructure", State.OK, None, f"no CPU samples {over}")
    state = level(cores, monitoring.cpu_cores)
    bound = f" {past(cores, monitoring.cpu_cores)} cores" if state is not State.OK else " cores"
    return Check("cpu", "infrastructure", state, cores, f"CPU {cores:.2f}{bound} {over}")


def _memory_check(resident: float | None, monitoring: MonitoringSpec) -> Check:
    if resident is None or math.isnan(resident):
        return Check("memory", "infrastructure", State.OK, None, "no memory sample")
    state = level(resident, monitoring.memory_bytes)
    text = f"memory {mebibytes(resident)}"
    if state is not State.OK:
        bound = monitoring.memory_bytes.crit if state is State.CRIT else monitoring.memory_bytes.warn
        text += f" {'>' if resident > bound else '>='} {mebibytes(bound)}"
    return Check("memory", "infrastructure", state, resident, f"{text} resident")


def _traffic(health: DeploymentHealth, ctx: _Context, answers: _Answers, over: str) -> None:
    figures = traffic_figures(answers, ctx.series_key)
    health.values["requests"] = figures["requests"]
    health.values["request_rate"] = per_second(figures["requests"], health.observed_seconds)
    health.values["error_rate"] = figures["error_rate"]
    health.checks.append(_error_check(figures["error_rate"], ctx.monitoring, over))
    for name in ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms"):
        health.values[name] = figures[name]
    health.checks.append(_latency_check(health.values["p95_latency_ms"], ctx.monitoring, over))


def traffic_figures(answers: _Answers, key: dict[str, str]) -> dict[str, float | None]:
    """Requests, the share answered 5xx, and p50/p95/p99 latency in ms of the series under ``key``."""
    by_code = answers.rows("requests", key)
    total = sum(r.value for r in by_code)
    errors = sum(r.value for r in by_code if r.labels.get(mc.CODE, "").startswith("5"))
    figures: dict[str, float | None] = {"requests": total, "error_rate": errors / total if total > 0 else None}
    buckets = {_le(r.labels.get("le", "")): r.value for r in answers.rows("latency", key)}
    for q in (0.5, 0.95, 0.99):
        figures[f"p{round(q * 100)}_latency_ms"] = _ms(histogram_quantile(q, buckets))
    return figures


def _error_check(rate: float | None, monitoring: MonitoringSpec, over: str) -> Check:
    if rate is None:
        return Check("error_rate", "infrastructure", State.OK, None, f"no requests {over}")
    state = level(rate, monitoring.error_rate)
    text = f"error rate {rate:.1%}"
    if state is not State.OK:
        bound = monitoring.error_rate.crit if state is State.CRIT else monitoring.error_rate.warn
        text += f" {'>' if rate > bound else '>='} {bound:.1%}"
    return Check("error_rate", "infrastructure", state, rate, f"{text} {over}")


def _latency_check(p95: float | None, monitoring: MonitoringSpec, over: str) -> Check:
    if p95 is None:
        return Check("p95_latency", "infrastructure", State.OK, None, f"no latency samples {over}")
    state = level(p95, monitoring.p95_latency_ms)
    bound = f" {past(p95, monitoring.p95_latency_ms)} ms" if state is not State.OK else " ms"
    return Check("p95_latency", "infrastructure", state, p95, f"p95 latency {p95:.1f}{bound} {over}")


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus' histogram_quantile over cumulative bucket counts keyed by upper bound; NaN if empty."""
    if math.inf not in buckets or len(buckets) < 2:
        return math.nan
    bounds = sorted(buckets)
    counts = np.maximum.accumulate([buckets[b] for b in bounds])  # like Prometheus, repair non-monotonic
    total = counts[-1]
    if total <= 0:
        return math.nan
    rank = q * total
    index = int(np.searchsorted(counts, rank, side="left"))
    if index == len(bounds) - 1:
        return bounds[-2]
    lower = 0.0 if index == 0 else bounds[index - 1]
    below = 0.0 if index == 0 else counts[index - 1]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    inside = counts[index] - below
    return lower + (bounds[index] - lower) * ((rank - below) / inside if inside > 0 else 0.0)


def _le(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else seconds * 1000.0


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Comparison:
    """A candidate against its stable version over the window: agreement, latency and errors."""

    role: str
    version: int
    stable_version: int
    compared: float | None
    """Rows both answered; None when the service does not export the comparison."""
    agreed: float
    candidate: dict[str, float | None]
    stable: dict[str, float | None]

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.compared if self.compared else None

    def deltas(self) -> str:
        """ "p95 3.1 ms vs 3.4 ms; errors 0.00% vs 0.01%": the candidate first."""
        p95 = (_shown_ms(self.candidate["p95_latency_ms"]), _shown_ms(self.stable["p95_latency_ms"]))
        errors = (_shown_share(self.candidate["error_rate"]), _shown_share(self.stable["error_rate"]))
        return f"p95 {p95[0]} vs {p95[1]}; errors {errors[0]} vs {errors[1]}"


def _agreement(health: DeploymentHealth, ctx: _Context, answers: _Answers, over: str) -> None:
    assert ctx.stable_version is not None
    stable = str(ctx.stable_version)
    compared = [r for r in answers.rows("compared", ctx.series_key) if r.labels.get(mc.STABLE_VERSION) == stable]
    agreed = [r for r in answers.rows("agreed", ctx.series_key) if r.labels.get(mc.STABLE_VERSION) == stable]
    e = ctx.endpoint
    found = Comparison(
        e.role,
        e.version,
        ctx.stable_version,
        sum(r.value for r in compared) if compared else None,
        sum(r.value for r in agreed),
        traffic_figures(answers, ctx.series_key),
        traffic_figures(answers, ctx.stable_key()),
    )
    health.values |= {"stable_version": float(ctx.stable_version), "compared_rows": found.compared}
    health.values |= {"agreed_rows": found.agreed if compared else None, "agreement": found.agreement}
    health.values["stable_p95_latency_ms"] = found.stable["p95_latency_ms"]
    health.values["stable_error_rate"] = found.stable["error_rate"]
    if found.compared is not None:  # a service from before the comparison existed exports none: no check
        health.checks.append(agreement_check(found, ctx.monitoring, over))


def agreement_check(found: Comparison, monitoring: MonitoringSpec, over: str) -> Check:
    """CRIT below ``monitoring.shadow.crit_below``, WARN below ``warn_below``; not judged under
    ``min_observations`` compared rows."""
    who = f"{found.role} v{found.version}"
    stable = f"v{found.stable_version}"
    deltas = found.deltas()
    floor, compared = monitoring.min_observations, found.compared or 0.0
    if compared < floor or found.agreement is None:
        reason = f"{who} vs {stable}: not enough rows compared ({compared:,.0f} < {floor}) {over}"
        return Check("agreement", "statistics", State.UNKNOWN, found.agreement, f"{reason}; {deltas}")
    share = found.agreement
    shown = f"{who} agrees with {stable} on {share:.1%} of {compared:,.0f} rows {over}"
    wanted = monitoring.shadow
    state = State.CRIT if share < wanted.crit_below else State.WARN if share < wanted.warn_below else State.OK
    bound = {State.CRIT: wanted.crit_below, State.WARN: wanted.warn_below}.get(state)
    below = f" < {bound:.1%}" if bound is not None else ""
    return Check("agreement", "statistics", state, share, f"{shown}{below}; {deltas}")


def _shown_ms(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1f} ms"


def _shown_share(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2%}"


# --------------------------------------------------------------------------- statistics


def _statistics(health: DeploymentHealth, ctx: _Context, answers: _Answers, over: str) -> None:
    if ctx.reference is None:
        health.checks.append(Check("drift", "statistics", State.UNKNOWN, None, ctx.reference_problem))
        return
    key = ctx.series_key
    bins = _grouped(answers.rows("bins", key), mc.FEATURE)
    missing = {r.labels.get(mc.FEATURE, ""): r.value for r in answers.rows("missing", key)}
    for name, reference in ctx.reference.features.items():
        counts, lost = bins.get(name, {}), missing.get(name, 0.0)
        drift = feature_drift(f"feature `{name}`", name, reference, counts, lost, ctx, over)
        health.features.append(drift)
        health.checks.append(Check(f"feature:{name}", "statistics", drift.state, _finite(drift.psi), drift.reason))
    prediction = ctx.reference.prediction
    if prediction is not None:
        counts = {r.labels.get(mc.BIN, ""): r.value for r in answers.rows("prediction", key)}
        drift = feature_drift("prediction", "prediction", prediction, counts, 0.0, ctx, over)
        health.features.append(drift)
        health.checks.append(Check("prediction", "statistics", drift.state, _finite(drift.psi), drift.reason))
    _performance(health, ctx, answers, key)


def feature_drift(
    label: str,
    name: str,
    reference: BinnedReference,
    counts_by_bin: dict[str, float],
    missing: float,
    ctx: _Context,
    over: str,
) -> FeatureDrift:
    counts = np.array([counts_by_bin.get(b, 0.0) for b in bin_labels(reference)], dtype=float)
    observations = float(counts.sum())
    value = stats.psi(reference.shares, counts) if observations > 0 else math.nan
    thresholds = ctx.monitoring.prediction_drift_psi if name == "prediction" else ctx.monitoring.drift_psi
    state, reason = psi_check(label, value, observations, thresholds, ctx.monitoring.min_observations, over)
    pvalue = None
    if observations > 0 and reference.count > 0:
        pvalue = stats.chi_square(np.asarray(reference.shares) * reference.count, counts).pvalue
    return FeatureDrift(name, reference.kind, observations, missing, value, pvalue, state, reason)


def _performance(health: DeploymentHealth, ctx: _Context, answers: _Answers, key: dict[str, str]) -> None:
    """The service's live metric (labels joined to its answers) against ``monitoring.performance``."""
    health.values["feedback"] = answers.value("feedback", key)
    wanted = ctx.monitoring.performance
    if wanted is None:
        return
    value = _metric_value(answers.rows("live", key), wanted.metric)
    labels = _metric_value(answers.rows("live_labels", key), wanted.metric)
    health.values["live_performance"] = value
    health.values["live_labels"] = labels
    health.checks.append(performance_check(wanted, value, labels, ctx.monitoring.min_observations, ctx.window_text))


def _metric_value(rows: list[Result], metric: str) -> float | None:
    return next((r.value for r in rows if r.labels.get(mc.METRIC) == metric), None)


def performance_check(
    wanted: PerformanceMonitoring, value: float | None, labels: float | None, floor: int, window: str
) -> Check:
    """CRIT below crit_below, WARN below warn_below; not judged under ``min_observations`` labels."""
    name = f"live {wanted.metric}"
    if labels is None:
        reason = f"{name}: the service does not export it (labels not joined: is the prediction log on?)"
        return Check("performance", "statistics", State.UNKNOWN, None, reason)
    if labels < floor:
        reason = f"{name}: not enough labels ({labels:.0f} < {floor}) over {window}"
        return Check("performance", "statistics", State.UNKNOWN, value, reason)
    if value is None or math.isnan(value):
        reason = f"{name}: cannot be computed from {labels:.0f} labels over {window}"
        return Check("performance", "statistics", State.UNKNOWN, None, reason)
    shown = f"{name} {value:.3f} from {labels:.0f} labels over {window}"
    if value < wanted.crit_below:
        return Check("performance", "statistics", State.CRIT, value, f"{shown} < {wanted.crit_below:g}")
    if value < wanted.warn_below:
        return Check("performance", "statistics", State.WARN, value, f"{shown} < {wanted.warn_below:g}")
    return Check("performance", "statistics", State.OK, value, shown)


def _grouped(rows: list[Result], label: str) -> dict[str, dict[str, float]]:
    grouped: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        grouped[row.labels.get(label, "")][row.labels.get(mc.BIN, "")] = row.value
    return grouped


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value
