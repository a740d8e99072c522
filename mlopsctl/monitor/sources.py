"""Where live metrics come from: a Prometheus server, or the services' own ``/metrics``.

Both sources answer the same small set of :class:`Query` objects, so health is computed the same
way from either. A query names one metric for ALL deployments at once and aggregates by labels
(``sum by (env, model, version, role, bin) (increase(x[1h]))``), so a refresh costs the same number
of round trips for 5 models or 500. Counters are summed after ``increase``, never before, so a
restarted service (a counter reset) does not look like a drop.

A Prometheus URL (the user config's ``prometheus.url`` or ``MLOPS_PROMETHEUS_URL``, else
``prometheus.url`` of ``mlops.yaml``) gives :class:`PrometheusSource`; none gives
:class:`ScrapeSource`, which scrapes every endpoint directly and keeps a short in-memory history of
samples to compute increases over a window.

Rates are increases divided by the span actually observed, not by the whole window: a service
that has existed for 2 minutes of a 1 h window did its requests in 2 minutes. The ``span`` query
answers that span per instance: for Prometheus, the age of the oldest process start seen inside
the window (``time() - min_over_time(process_start_time_seconds[w])``, at most the window: a plain
range function over the samples, where a subquery finding the first ``up`` sample took over 5 s for
200 deployments); for the direct
scrape, the time since the baseline its increases count from (the last scrape before the window,
else the service's ``process_start_time_seconds``).

Credentials and TLS settings come only from the user config (``~/.config/mlopsctl/config.yaml``,
``MLOPS_PROMETHEUS_*``) and go only to a URL that came from there too: a committed ``mlops.yaml``
may name a Prometheus to read, never one that receives a password or token. The outside world is
reached through the ports: :mod:`mlopsctl.ports.prometheus` (the connection, its credentials, https
only, no redirects) and :mod:`mlopsctl.ports.http` (the direct scrape); both record every call.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mlopsctl.contract.metrics import PROCESS_START_TIME
from mlopsctl.errors import UsageError
from mlopsctl.monitor import promtext
from mlopsctl.monitor.targets import Endpoint
from mlopsctl.ports import http
from mlopsctl.ports.prometheus import USER_CONFIG, PrometheusConnection
from mlopsctl.spec.models import PrometheusSettings
from mlopsctl.spec.userconfig import UserPrometheus, load_user_config

Kind = Literal["increase", "rate", "last", "changes", "span", "growth"]
Matcher = tuple[str, str, str]
"""(label, operator, value) with the PromQL operators =, !=, =~ and !~."""

HISTORY_SECONDS = 6 * 3600
"""How far back the direct-scrape source keeps samples."""
JOB_PREFIX = "mlopsctl-"
QUERY_CONCURRENCY = 4
"""Queries in flight at once against Prometheus."""


@dataclass(frozen=True)
class Query:
    """One metric, for every deployment, aggregated by labels."""

    kind: Kind
    metric: str
    by: tuple[str, ...]
    window_seconds: float = 0.0
    match: tuple[Matcher, ...] = ()
    scoped: bool = True
    """Select the environments by the ``env`` label, which the scrape configuration adds; False for
    series Kubernetes' own exporters make (cAdvisor, kube-state-metrics), selected by ``match`` alone."""

    def promql(self, envs: Sequence[str]) -> str:
        selector = _selector((*self.match, *(_env_matcher(envs) if self.scoped else ())))
        series = f"{self.metric}{selector}"
        by = ", ".join(self.by)
        if self.kind == "last":
            return f"max by ({by}) ({series})"
        window = f"[{_duration(self.window_seconds)}]"
        if self.kind == "changes":
            return f"max by ({by}) (changes({series}{window}))"
        if self.kind == "growth":
            # exact for small counts that never reset (increase() extrapolates: 1 restart can read 1.5)
            return f"sum by ({by}) (max_over_time({series}{window}) - min_over_time({series}{window}))"
        if self.kind == "span":
            return self._span_promql(series, by)
        return f"sum by ({by}) ({self.kind}({series}{window}))"

    def _span_promql(self, series: str, by: str) -> str:
        """Seconds since the oldest start time ``series`` (a process start) shows inside the window,
        at most the window: a restart inside the window still counts from the first start."""
        window = _duration(self.window_seconds)
        oldest = f"max by ({by}) (time() - min_over_time({series}[{window}]))"
        return f"clamp_max({oldest}, {window.removesuffix('s')})"


@dataclass(frozen=True)
class Result:
    """One aggregated series: its ``by`` labels and value."""

    labels: dict[str, str]
    value: float


class MetricsSource(Protocol):
    """Answers a batch of queries for the deployments of some environments."""

    description: str

    def fetch(self, queries: Sequence[Query]) -> list[list[Result]]:
        """One result list per query, in order. Raises PrometheusUnreachable when the source is down."""
        ...


# --------------------------------------------------------------------------- Prometheus


class PrometheusSource:
    """A Prometheus server's HTTP API, through prometheus-api-client; one request per query.

    ``user`` is the user config's Prometheus section (loaded when not given). Its URL wins over the
    repository's, and only then are its credentials and TLS settings used.
    """

    def __init__(self, settings: PrometheusSettings, envs: Sequence[str], user: UserPrometheus | None = None) -> None:
        user = user if user is not None else load_user_config().prometheus
        url = user.url or settings.url
        if not url:
            raise UsageError(
                "no Prometheus URL configured",
                hint=f"set prometheus.url in {USER_CONFIG} or MLOPS_PROMETHEUS_URL (or in mlops.yaml)",
            )
        self.connection = PrometheusConnection(url, user if user.url else None, settings.timeout_seconds)
        self.url = self.connection.url
        self.description = f"Prometheus at {self.url}"
        self.envs = list(envs)

    def fetch(self, queries: Sequence[Query]) -> list[list[Result]]:
        """All queries at one evaluation instant, a few at a time (Prometheus answers in parallel)."""
        at = time.time()
        with ThreadPoolExecutor(max_workers=QUERY_CONCURRENCY) as pool:
            return list(pool.map(lambda query: self._one(query.promql(self.envs), at, query.by), queries))

    def _one(self, promql: str, at: float, by: tuple[str, ...]) -> list[Result]:
        return [_result(row, by) for row in self.connection.query(promql, at)]


def _result(row: dict[str, Any], by: tuple[str, ...]) -> Result:
    metric = row.get("metric", {})
    return Result({key: str(metric.get(key, "")) for key in by}, float(row["value"][1]))


# --------------------------------------------------------------------------- direct scrape


@dataclass
class _Scrape:
    """One scrape of one service: when, and its samples (None when it did not answer)."""

    at: float
    samples: dict[tuple[str, promtext.Labels], float] | None
    error: str = ""


@dataclass
class _Target:
    env: str
    instance: str
    url: str
    history: deque[_Scrape] = field(default_factory=deque)

    @property
    def base_labels(self) -> dict[str, str]:
        return {"env": self.env, "instance": self.instance, "job": f"{JOB_PREFIX}{self.env}"}


class ScrapeSource:
    """Scrapes each service's /metrics itself and keeps a short history to compute increases.

    Counters start at 0 when a service starts, so when the service started inside the window, its
    start is the baseline; when the history is shorter than the window and the service older, the
    increase counts from the service's start (a one-shot CLI run sees one scrape).
    """

    def __init__(self, endpoints: Iterable[Endpoint], timeout_seconds: float = 2.0) -> None:
        self.timeout = timeout_seconds
        self.targets: dict[tuple[str, str], _Target] = {}
        for endpoint in endpoints:
            key = (endpoint.env, endpoint.instance)
            self.targets.setdefault(key, _Target(endpoint.env, endpoint.instance, endpoint.metrics_url))
        self.description = f"direct scrape of {len(self.targets)} service(s)"

    def fetch(self, queries: Sequence[Query]) -> list[list[Result]]:
        self.scrape()
        now = time.time()
        return [self._answer(query, now) for query in queries]

    def scrape(self) -> None:
        targets = list(self.targets.values())
        if not targets:
            return
        with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
            scrapes = list(pool.map(self._scrape_one, targets))
        for target, scrape in zip(targets, scrapes, strict=True):
            target.history.append(scrape)
            while target.history and target.history[0].at < scrape.at - HISTORY_SECONDS:
                target.history.popleft()

    def _scrape_one(self, target: _Target) -> _Scrape:
        started = time.time()
        try:
            response = http.request("GET", target.url, timeout=self.timeout)
        except http.NoAnswer as failure:
            return _Scrape(started, None, _no_answer(failure))
        if response.status >= 400:
            return _Scrape(started, None, f"HTTP {response.status} from /metrics")
        try:
            samples = {(s.name, s.labels): s.value for s in promtext.parse(response.text)}
        except promtext.ParseError as exc:
            return _Scrape(started, None, f"unreadable /metrics: {exc}")
        return _Scrape(started, samples)

    def _answer(self, query: Query, now: float) -> list[Result]:
        totals: dict[tuple[str, ...], float] = defaultdict(float)
        seen: set[tuple[str, ...]] = set()
        combine = max if query.kind in ("last", "changes") else _add
        for target in self.targets.values():
            for labels, value in self._series(target, query, now):
                key = tuple(labels.get(name, "") for name in query.by)
                totals[key] = combine(totals[key], value) if key in seen else value
                seen.add(key)
        return [Result(dict(zip(query.by, key, strict=True)), value) for key, value in totals.items()]

    def _series(self, target: _Target, query: Query, now: float) -> Iterable[tuple[dict[str, str], float]]:
        if query.kind == "span":
            yield from self._span(target, query, now)
            return
        if query.metric == "up":
            yield from self._up(target, query)
            return
        latest = target.history[-1] if target.history else None
        if latest is None or latest.samples is None:
            return
        for (name, sample_labels), value in latest.samples.items():
            if name != query.metric:
                continue
            labels = {**dict(sample_labels), **target.base_labels}
            if _matches(labels, query.match):
                yield labels, self._evaluate(target, query, (name, sample_labels), value, now)

    def _up(self, target: _Target, query: Query) -> Iterable[tuple[dict[str, str], float]]:
        labels = target.base_labels
        if target.history and _matches(labels, query.match):
            yield labels, 0.0 if target.history[-1].samples is None else 1.0

    def _span(self, target: _Target, query: Query, now: float) -> Iterable[tuple[dict[str, str], float]]:
        labels = target.base_labels
        since = counting_since(target, now - query.window_seconds)
        if since is not None and _matches(labels, query.match):
            yield labels, max(0.0, now - since)

    def _evaluate(
        self, target: _Target, query: Query, key: tuple[str, promtext.Labels], value: float, now: float
    ) -> float:
        if query.kind == "last":
            return value
        points = _window_points(target, key, now - query.window_seconds, query.kind not in ("changes", "growth"))
        if query.kind == "growth":
            return max(v for _, v in points) - min(v for _, v in points) if points else 0.0
        if query.kind == "changes":
            return float(sum(1 for a, b in itertools.pairwise(points) if a[1] != b[1]))
        increase = counter_increase([v for _, v in points])
        if query.kind == "increase":
            return increase
        span = points[-1][0] - points[0][0] if len(points) > 1 else 0.0
        return increase / span if span > 0 else math.nan


def counter_increase(values: Sequence[float]) -> float:
    """Increase of a counter over consecutive samples; a drop is a reset, counted from zero again."""
    total = 0.0
    for previous, current in itertools.pairwise(values):
        total += current - previous if current >= previous else current
    return total


def _window_points(
    target: _Target, key: tuple[str, promtext.Labels], start: float, from_start: bool = True
) -> list[tuple[float, float]]:
    """Samples of one series from the window's baseline on (see :class:`ScrapeSource`).

    ``from_start``: without a sample before the window, the service's start (value 0) is the baseline.
    """
    points: list[tuple[float, float]] = []
    baseline: tuple[float, float] | None = None
    for scrape in target.history:
        if scrape.samples is None:
            continue
        value = scrape.samples.get(key, 0.0)
        if scrape.at < start:
            baseline = (scrape.at, value)
        else:
            points.append((scrape.at, value))
    if baseline is None and from_start:
        baseline = _process_start(target)
    return [baseline, *points] if baseline is not None else points


def counting_since(target: _Target, start: float) -> float | None:
    """When the increases of a window starting at ``start`` count from (see :func:`_window_points`).

    The last answered scrape before the window, else the service's start (its counters were 0
    then); None when neither is known (no answered scrape, or no ``process_start_time_seconds``).
    """
    answered = [scrape for scrape in target.history if scrape.samples is not None]
    before = [scrape.at for scrape in answered if scrape.at < start]
    if before:
        return before[-1]
    if not answered or answered[-1].samples is None:
        return None
    started = answered[-1].samples.get((PROCESS_START_TIME, ()))
    return None if started is None else min(started, answered[0].at)


def _process_start(target: _Target) -> tuple[float, float] | None:
    """Counters were 0 when the service started: that is a sample too."""
    for scrape in reversed(target.history):
        if scrape.samples is not None:
            started = scrape.samples.get(("process_start_time_seconds", ()))
            return (started, 0.0) if started is not None else (scrape.at - 1e-3, 0.0)
    return None


def _add(a: float, b: float) -> float:
    return a + b


def _matches(labels: dict[str, str], matchers: Sequence[Matcher]) -> bool:
    for name, op, expected in matchers:
        value = labels.get(name, "")
        if op == "=" and value != expected:
            return False
        if op == "!=" and value == expected:
            return False
        if op in ("=~", "!~") and (re.fullmatch(expected, value) is not None) != (op == "=~"):
            return False
    return True


def _no_answer(failure: http.NoAnswer) -> str:
    if failure.timed_out:
        return "no answer in time"
    return "connection refused" if failure.refused else "connection failed"


def scrape_errors(source: MetricsSource) -> dict[tuple[str, str], str]:
    """Why each unanswered service did not answer, keyed by (env, instance); empty for Prometheus."""
    if not isinstance(source, ScrapeSource):
        return {}
    return {
        key: target.history[-1].error
        for key, target in source.targets.items()
        if target.history and target.history[-1].samples is None
    }


# --------------------------------------------------------------------------- choice


def metrics_source(settings: PrometheusSettings, endpoints: Sequence[Endpoint]) -> MetricsSource:
    """Prometheus when a URL is configured (user config first, then mlops.yaml), else direct scraping."""
    user = load_user_config().prometheus
    if user.url or settings.url:
        return PrometheusSource(settings, sorted({endpoint.env for endpoint in endpoints}), user)
    return ScrapeSource(endpoints, timeout_seconds=min(settings.timeout_seconds, 5.0))


def _selector(matchers: Sequence[Matcher]) -> str:
    if not matchers:
        return ""
    body = ",".join(f'{name}{op}"{_escape(value)}"' for name, op, value in matchers)
    return "{" + body + "}"


def _env_matcher(envs: Sequence[str]) -> tuple[Matcher, ...]:
    if not envs:
        return (("env", "!=", ""),)
    return (("env", "=~", "|".join(envs)),)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _duration(seconds: float) -> str:
    whole = max(1, round(seconds))
    return f"{whole}s"
