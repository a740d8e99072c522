"""How a candidate version behaved live next to the stable one: the evidence behind a rollout step
and a promotion's pull request.

:func:`candidate_evidence` asks Prometheus a fixed, small set of PromQL queries (one per figure, at
most :data:`QUERY_CONCURRENCY` in flight) over ``[start, end]``, evaluated at ``end``: the
candidate's requests, its agreement with the stable version on the same rows, p95 latency and
error rate of both, the largest feature drift of the candidate's traffic and the live performance
of both when labels flow back. Every :class:`Figure` keeps the exact PromQL it came from, so a
commit message or a pull-request body can show it and a reviewer can run it again; a figure without
data is ``None`` and says why.

The queries go through the Prometheus port (:class:`~mlopsctl.monitor.sources.PrometheusSource`'s
connection), which records each call. The services' own ``/metrics`` (the direct-scrape source)
keep no history over a past window, so without Prometheus every figure is ``None``, saying so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from mlopsctl.contract import metrics as mc
from mlopsctl.monitor.sources import QUERY_CONCURRENCY, MetricsSource, PrometheusSource
from mlopsctl.monitor.stats import EPS
from mlopsctl.spec.models import ModelSpec

NON_PREDICTION_ROUTES = "/metrics|/health.*|/metadata.*"
"""Scrapes, probes and metadata calls are not predictions (as in :mod:`mlopsctl.monitor.health`)."""
NO_PROMETHEUS = "needs Prometheus: the services' own /metrics keep no history over a past window"


@dataclass(frozen=True)
class Figure:
    """One number of the evidence, the PromQL it came from, and why it is missing when it is."""

    name: str
    value: float | None
    promql: str
    why: str = ""
    """Why there is no value (empty when there is one)."""
    label: str = ""
    """A label the figure is about, e.g. the feature of the largest drift."""


@dataclass
class Evidence:
    """The candidate's figures over ``[start, end]``, next to the stable version's."""

    model: str
    env: str
    stable: int | None
    candidate: int
    role: str
    start: float
    end: float
    figures: dict[str, Figure] = field(default_factory=dict)
    drift_threshold: float | None = None
    """The PSI above which :meth:`summary` calls a feature drifted."""

    def value(self, name: str) -> float | None:
        figure = self.figures.get(name)
        return None if figure is None else figure.value

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)

    def summary(self) -> str:
        """One line for people: agreement, p95 and errors next to the stable version's, and drift."""
        parts = [self._agreement_text(), self._latency_text(), self._errors_text(), self._drift_text()]
        return "; ".join(parts)

    def _agreement_text(self) -> str:
        who = f"{self.role} v{self.candidate}"
        stable = f"v{self.stable}" if self.stable is not None else "the stable version"
        requests, agreement = self.value("candidate_requests"), self.value("agreement")
        over = f"over {duration_text(self.seconds)}"
        if agreement is None:
            counted = f"{requests:,.0f} requests" if requests is not None else "no requests counted"
            return f"{who} answered {counted} {over}; agreement with {stable} not measured"
        counted = f"{requests:,.0f}" if requests is not None else "?"
        return f"{who} agreed with {stable} on {agreement:.1%} of {counted} requests {over}"

    def _latency_text(self) -> str:
        ours, theirs = self.value("p95_candidate_ms"), self.value("p95_stable_ms")
        return f"p95 {_number(ours, ' ms')} vs {_number(theirs, ' ms')}"

    def _errors_text(self) -> str:
        ours, theirs = self.value("error_rate_candidate"), self.value("error_rate_stable")
        return f"errors {_percent(ours)} vs {_percent(theirs)}"

    def _drift_text(self) -> str:
        figure = self.figures.get("drift_psi")
        if figure is None or figure.value is None:
            return "feature drift not measured"
        if self.drift_threshold is not None and figure.value <= self.drift_threshold:
            return "no feature drift"
        return f"feature drift: `{figure.label}` PSI {figure.value:.2f}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "env": self.env,
            "stable": self.stable,
            "candidate": self.candidate,
            "role": self.role,
            "start": self.start,
            "end": self.end,
            "summary": self.summary(),
            "figures": {name: asdict(figure) for name, figure in self.figures.items()},
        }


def candidate_evidence(
    source: MetricsSource,
    *,
    model: str,
    env: str,
    stable: int | None,
    candidate: int,
    role: str,
    start: float,
    end: float | None = None,
    spec: ModelSpec,
) -> Evidence:
    """The figures of ``candidate`` (running as ``role``: shadow or canary) against ``stable`` over
    ``[start, end]`` (``end`` defaults to now). Raises PrometheusUnreachable when Prometheus is down."""
    end = time.time() if end is None else end
    evidence = Evidence(model, env, stable, candidate, role, start, end, drift_threshold=_drift_threshold(spec))
    queries = evidence_queries(model, env, stable, candidate, role, window_seconds(start, end), spec)
    if not isinstance(source, PrometheusSource):
        evidence.figures = {name: Figure(name, None, promql, NO_PROMETHEUS) for name, promql in queries.items()}
        return evidence
    with ThreadPoolExecutor(max_workers=QUERY_CONCURRENCY) as pool:
        answers = list(pool.map(lambda promql: source.connection.query(promql, end), queries.values()))
    for (name, promql), rows in zip(queries.items(), answers, strict=True):
        evidence.figures[name] = _figure(name, promql, rows)
    return evidence


def window_seconds(start: float, end: float) -> int:
    """The range PromQL looks back over: whole seconds, at least 1."""
    return max(1, math.ceil(end - start))


def evidence_queries(
    model: str, env: str, stable: int | None, candidate: int, role: str, window: int, spec: ModelSpec
) -> dict[str, str]:
    """Figure name -> the PromQL that answers it (each returns at most one series, except drift)."""
    ours = _selector(env, model, candidate, role)
    theirs = _selector(env, model, stable, "stable") if stable is not None else None
    compared = f'{ours[:-1]},{mc.STABLE_VERSION}="{stable}"}}' if stable is not None else ours
    queries = {
        "candidate_requests": _requests(ours, window),
        "compared_rows": f"sum(increase({mc.COMPARED_ROWS_TOTAL}{compared}[{window}s]))",
        "agreement": f"sum(increase({mc.AGREED_ROWS_TOTAL}{compared}[{window}s]))\n"
        f"  / sum(increase({mc.COMPARED_ROWS_TOTAL}{compared}[{window}s]))",
        "p95_candidate_ms": _p95_ms(ours, window),
        "error_rate_candidate": _error_rate(ours, window),
        # a shadow sees exactly the stable version's requests and bins none itself: its traffic's drift is
        # the stable version's (a canary answers, and bins, requests of its own)
        "drift_psi": _largest_psi(ours, window),  # a shadow bins the requests it saw too
    }
    if theirs is not None:
        queries |= {
            "stable_requests": _requests(theirs, window),
            "p95_stable_ms": _p95_ms(theirs, window),
            "error_rate_stable": _error_rate(theirs, window),
        }
    performance = spec.monitoring.performance
    if performance is not None:
        queries["live_candidate"] = _live(ours, performance.metric, window)
        if theirs is not None:
            queries["live_stable"] = _live(theirs, performance.metric, window)
    return queries


def _selector(env: str, model: str, version: int | None, role: str) -> str:
    labels = {mc.ENV: env, mc.MODEL: model, mc.VERSION: str(version), mc.ROLE: role}
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _predictions(selector: str) -> str:
    """The selector narrowed to prediction routes."""
    return f'{selector[:-1]},{mc.ROUTE}!~"{NON_PREDICTION_ROUTES}"}}'


def _requests(selector: str, window: int) -> str:
    return f"sum(increase({mc.REQUESTS_TOTAL}{_predictions(selector)}[{window}s]))"


def _p95_ms(selector: str, window: int) -> str:
    buckets = f"{mc.REQUEST_DURATION}_bucket{_predictions(selector)}"
    return f"1000 * histogram_quantile(0.95, sum by (le) (increase({buckets}[{window}s])))"


def _error_rate(selector: str, window: int) -> str:
    failed = f'{_predictions(selector)[:-1]},{mc.CODE}=~"5.."}}'
    # no 5xx series at all is 0 errors, not "no data"
    return (
        f"(sum(increase({mc.REQUESTS_TOTAL}{failed}[{window}s])) or vector(0))\n"
        f"  / sum(increase({mc.REQUESTS_TOTAL}{_predictions(selector)}[{window}s]))"
    )


def _largest_psi(selector: str, window: int) -> str:
    """PSI per feature as the rendered recording rules compute it, largest first."""
    bins = f"increase({mc.FEATURE_BIN_TOTAL}{selector}[{window}s])"
    actual_share = (
        f"sum by ({mc.FEATURE}, {mc.BIN}) ({bins})\n    / on ({mc.FEATURE}) group_left\n"
        f"    sum by ({mc.FEATURE}) ({bins})"
    )
    actual = f"clamp_min(\n    {actual_share}, {EPS!r})"
    # over the window, not at its end: the gauge goes stale once a run ends (a shadow dropped, a service
    # stopped), and the evidence of an ended run is read after it
    reference = f"max_over_time({mc.FEATURE_REFERENCE_SHARE}{selector}[{window}s])"
    expected = f"clamp_min(max by ({mc.FEATURE}, {mc.BIN}) ({reference}), {EPS!r})"
    return f"sort_desc(sum by ({mc.FEATURE}) (\n  ({actual} - {expected})\n  * ln({actual} / {expected})\n))"


def _live(selector: str, metric: str, window: int) -> str:
    """The last live value in the window (the gauge goes stale once the run ended)."""
    series = f'{mc.LIVE_PERFORMANCE}{{{selector[1:-1]},{mc.METRIC}="{_escape(metric)}"}}'
    return f"max(last_over_time({series}[{window}s]))"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


# --------------------------------------------------------------------------- answers


def _figure(name: str, promql: str, rows: Sequence[dict[str, Any]]) -> Figure:
    values = [(row.get("metric", {}), float(row["value"][1])) for row in rows]
    values = [(labels, value) for labels, value in values if not math.isnan(value)]
    if not values:
        return Figure(name, None, promql, _why_empty(name))
    labels, value = max(values, key=lambda item: item[1])  # drift: the largest feature; else one series
    return Figure(name, value, promql, label=str(labels.get(mc.FEATURE, "")) if name == "drift_psi" else "")


_WHY_EMPTY = {
    "candidate_requests": "the candidate answered no requests in the window",
    "stable_requests": "the stable version answered no requests in the window",
    "compared_rows": "no rows compared with the stable version (the service exports no comparison)",
    "agreement": "no rows compared with the stable version (the service exports no comparison)",
    "p95_candidate_ms": "no request durations of the candidate in the window",
    "p95_stable_ms": "no request durations of the stable version in the window",
    "error_rate_candidate": "the candidate answered no requests in the window",
    "error_rate_stable": "the stable version answered no requests in the window",
    "drift_psi": "no feature bins or reference shares of the candidate in the window",
    "live_candidate": "no live performance of the candidate (no labels joined yet)",
    "live_stable": "no live performance of the stable version (no labels joined yet)",
}


def _why_empty(name: str) -> str:
    return _WHY_EMPTY.get(name, "no data in the window")


def _drift_threshold(spec: ModelSpec) -> float:
    checked = spec.rollout.checks.max_drift_psi
    return checked if checked is not None else spec.monitoring.drift_psi.crit


# --------------------------------------------------------------------------- text


def duration_text(seconds: float) -> str:
    """``86400`` -> ``"24 h"``, ``90`` -> ``"1.5 min"``, ``12`` -> ``"12 s"``."""
    for at_least, size, unit in ((172800, 86400, "d"), (3600, 3600, "h"), (60, 60, "min")):
        if seconds >= at_least:
            return f"{_trim(seconds / size)} {unit}"
    return f"{seconds:.0f} s"


def _trim(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _number(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.1f}{unit}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"
