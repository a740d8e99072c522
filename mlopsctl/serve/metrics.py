"""The service's Prometheus metrics, in the text exposition format 0.0.4.

Names and labels come from :mod:`mlopsctl.contract.metrics`. Every model series carries ``model``,
``version`` and ``role``. Each served version owns a :class:`ModelMetrics` whose counters are plain
integers and lists, updated on the event loop thread (no locks on the hot path), and rendered
on scrape. All drift series exist from start-up: every bin of every feature and of the
predictions starts at 0, next to a gauge with the training data's share of that bin, so
Prometheus can compare shares from the first scrape.

Shadow predictions are counted under ``role="shadow"`` in the request and error counters too:
client-facing traffic is ``role!="shadow"``. A candidate (shadow or canary) also exports its
comparison with the stable version on the same rows (:mod:`mlopsctl.serve.compare`), under its own
labels plus ``stable_version``.
"""

from __future__ import annotations

import bisect
import os
import resource
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlopsctl.contract import metrics as mc
from mlopsctl.contract.batch import Batch, Prediction
from mlopsctl.contract.binning import OTHER, bin_index, bin_labels, category_index
from mlopsctl.contract.records import BinnedReference, VersionRecord
from mlopsctl.serve.compare import Agreement
from mlopsctl.serve.performance import LivePerformance

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_IMPORTED_AT = time.time()


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(**pairs: str) -> str:
    return ",".join(f'{name}="{escape(str(value))}"' for name, value in pairs.items())


def number(value: float) -> str:
    return repr(float(value))


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def lines(self, name: str, label_text: str) -> Iterable[str]:
        return histogram_lines(name, label_text, self.bounds, self.counts, self.total)


def histogram_lines(
    name: str, label_text: str, bounds: Sequence[float], counts: Sequence[int], total: float
) -> Iterable[str]:
    """A histogram's samples from its per-bucket (not cumulative) counts, the last one above every bound."""
    running = 0
    for bound, count in zip(bounds, counts, strict=False):
        running += count
        yield f'{name}_bucket{{{label_text},le="{number(bound)}"}} {running}'
    running += counts[-1]
    yield f'{name}_bucket{{{label_text},le="+Inf"}} {running}'
    yield f"{name}_sum{{{label_text}}} {float(total)!r}"
    yield f"{name}_count{{{label_text}}} {running}"


class BinCounter:
    """Counts of one feature's (or the predictions') values in its reference bins."""

    def __init__(self, reference: BinnedReference) -> None:
        self.reference = reference
        self.categorical = reference.kind == "categorical"
        self.edges = [float(e) for e in reference.edges]
        self.labels = bin_labels(reference)
        self.lookup = {c: i for i, c in enumerate(reference.categories)}
        self.counts = [0] * len(self.labels)
        self.missing = 0

    def count_values(self, values: list[Any]) -> None:
        """Raw request values: floats (nan = missing) for numeric features, str/None for categorical."""
        if len(values) > 32:
            self._count_many(values)
            return
        counts, missing = self.counts, 0
        if self.categorical:
            other = len(self.lookup)
            for value in values:
                if value is None:
                    missing += 1
                else:
                    counts[self.lookup.get(value if type(value) is str else str(value), other)] += 1
        else:
            edges = self.edges
            for value in values:
                if value != value:
                    missing += 1
                else:
                    counts[bisect.bisect_left(edges, value)] += 1
        self.missing += missing

    def _count_many(self, values: list[Any]) -> None:
        if self.categorical:
            present = [v for v in values if v is not None]
            self.missing += len(values) - len(present)
            codes = np.asarray(category_index(self.reference.categories, present), dtype=np.intp)
            found = np.bincount(codes, minlength=len(self.counts))
        else:
            array = np.asarray(values, dtype=np.float64)
            finite = array[~np.isnan(array)]
            self.missing += int(array.size - finite.size)
            found = np.bincount(bin_index(self.edges, finite), minlength=len(self.counts))
        for i, count in enumerate(found.tolist()):
            self.counts[i] += count

    def count_array(self, values: np.ndarray[Any, Any]) -> None:
        """Model outputs: labels (categorical bins) or values (numeric bins)."""
        if self.categorical:
            self.count_values([str(v) for v in values.tolist()])
        else:
            self.count_values(np.asarray(values, dtype=np.float64).tolist())


class ModelMetrics:
    """Every series of one served version (one role)."""

    def __init__(self, record: VersionRecord, role: str) -> None:
        self.record = record
        self.role = role
        self.label_text = labels(model=record.model, version=str(record.version), role=role)
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.batch_rows = Histogram(tuple(float(b) for b in mc.BATCH_BUCKETS))
        self.prediction_errors = 0
        self.ignored_fields = 0
        self.feedback = 0
        self.performance: LivePerformance | None = None
        """Set by the service when the spec declares a live metric (monitoring.performance)."""
        self.agreement: Agreement | None = None
        """Set by the service on a candidate: its comparison with the stable version."""
        self.features = {name: BinCounter(ref) for name, ref in record.reference.features.items()}
        self.prediction = self._prediction_counter(record)

    @staticmethod
    def _prediction_counter(record: VersionRecord) -> BinCounter | None:
        if record.reference.prediction is not None:
            return BinCounter(record.reference.prediction)
        classes = record.signature.classes
        if classes:
            names = [str(c) for c in classes]
            return BinCounter(BinnedReference(kind="categorical", categories=names, shares=[0.0] * (len(names) + 1)))
        return None

    def request(self, route: str, code: int, seconds: float) -> None:
        key = (route, code)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = Histogram(mc.LATENCY_BUCKETS)
        histogram.observe(seconds)

    def refused(self, route: str, code: int) -> None:
        """A request the HTTP layer refused before it was read: counted, but not timed."""
        key = (route, code)
        self.requests[key] = self.requests.get(key, 0) + 1

    def observe(self, batch: Batch, prediction: Prediction, sizes: Sequence[int] = ()) -> None:
        """Drift counters for one answered batch, and the undeclared fields it came with; ``sizes``: the
        rows of each request when the batch merges several (a shadow's), else it is one request."""
        for rows in sizes or (batch.rows,):
            self.batch_rows.observe(rows)
        self.ignored_fields += batch.ignored
        for name, counter in self.features.items():
            values = batch.columns.get(name)
            if values is not None:
                counter.count_values(values)
        if self.prediction is not None:
            self.prediction.count_array(self._prediction_values(prediction))

    def _prediction_values(self, prediction: Prediction) -> np.ndarray[Any, Any]:
        ref = self.prediction.reference if self.prediction is not None else None
        if ref is not None and ref.kind == "numeric" and prediction.probabilities is not None:
            return prediction.probabilities[:, -1]
        return prediction.labels


@dataclass
class Family:
    name: str
    kind: str
    help: str
    samples: list[str] = field(default_factory=list)

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(f"{line}\n" for line in self.samples)


@dataclass(frozen=True)
class LogCounts:
    """The prediction log's counters (process-wide, no model labels)."""

    written: int
    dropped: int


def render(models: list[ModelMetrics], log: LogCounts | None = None) -> str:
    """The /metrics page for the served versions, the prediction log, then the process metrics."""
    families = _model_families(models) + _agreement_families(models) + _live_families(models)
    families += _log_families(log) + _process_families()
    return "".join(f.render() for f in families if f.samples)


def _agreement_families(models: list[ModelMetrics]) -> list[Family]:
    compared = Family(mc.COMPARED_ROWS_TOTAL, "counter", "Rows both the candidate and the stable version answered.")
    agreed = Family(mc.AGREED_ROWS_TOTAL, "counter", "Rows where the candidate agreed with the stable version.")
    difference = Family(mc.ANSWER_DIFFERENCE, "histogram", "Per row: how far the candidate's answer is from stable's.")
    for m in models:
        found = m.agreement
        if found is None:
            continue
        where = f'{m.label_text},{mc.STABLE_VERSION}="{escape(found.stable_version)}"'
        compared.samples.append(f"{mc.COMPARED_ROWS_TOTAL}{{{where}}} {found.compared}")
        agreed.samples.append(f"{mc.AGREED_ROWS_TOTAL}{{{where}}} {found.agreed}")
        buckets = found.buckets.tolist()
        difference.samples.extend(
            histogram_lines(mc.ANSWER_DIFFERENCE, where, mc.DIFFERENCE_BUCKETS, buckets, found.total)
        )
    return [compared, agreed, difference]


def _live_families(models: list[ModelMetrics]) -> list[Family]:
    feedback = Family(mc.FEEDBACK_TOTAL, "counter", "Ground-truth labels received.")
    live = Family(mc.LIVE_PERFORMANCE, "gauge", "Live metric over the labels of the monitoring window.")
    count = Family(mc.LIVE_LABELS, "gauge", "Labelled rows in the monitoring window.")
    for m in models:
        feedback.samples.append(f"{mc.FEEDBACK_TOTAL}{{{m.label_text}}} {m.feedback}")
        if m.performance is None:
            continue
        value, rows = m.performance.current()
        where = f'{m.label_text},{mc.METRIC}="{escape(m.performance.metric)}"'
        count.samples.append(f"{mc.LIVE_LABELS}{{{where}}} {rows}")
        if value is not None:
            live.samples.append(f"{mc.LIVE_PERFORMANCE}{{{where}}} {value!r}")
    return [feedback, live, count]


def _log_families(log: LogCounts | None) -> list[Family]:
    if log is None:
        return []
    written = Family(mc.PREDICTION_LOG_WRITTEN_TOTAL, "counter", "Answers written to the prediction log.")
    written.samples.append(f"{mc.PREDICTION_LOG_WRITTEN_TOTAL} {log.written}")
    dropped = Family(mc.PREDICTION_LOG_DROPPED_TOTAL, "counter", "Answers dropped: the log queue was full.")
    dropped.samples.append(f"{mc.PREDICTION_LOG_DROPPED_TOTAL} {log.dropped}")
    return [written, dropped]


def _model_families(models: list[ModelMetrics]) -> list[Family]:
    requests = Family(mc.REQUESTS_TOTAL, "counter", "Requests by route and HTTP status code.")
    latency = Family(mc.REQUEST_DURATION, "histogram", "Request latency in seconds, by route.")
    rows = Family(mc.BATCH_ROWS, "histogram", "Rows per prediction request.")
    errors = Family(mc.PREDICTION_ERRORS_TOTAL, "counter", "Requests that failed inside the model.")
    ignored = Family(mc.IGNORED_FIELDS_TOTAL, "counter", "Undeclared request fields ignored, once per request.")
    bins = Family(mc.FEATURE_BIN_TOTAL, "counter", "Observed values per feature and reference bin.")
    shares = Family(mc.FEATURE_REFERENCE_SHARE, "gauge", "Training data share of each feature bin.")
    missing = Family(mc.FEATURE_MISSING_TOTAL, "counter", "Missing (null or NaN) values per feature.")
    pred_bins = Family(mc.PREDICTION_BIN_TOTAL, "counter", "Predictions per class or reference bin.")
    pred_shares = Family(mc.PREDICTION_REFERENCE_SHARE, "gauge", "Training predictions share of each bin.")
    info = Family(mc.MODEL_INFO, "gauge", "The served model versions (always 1).")
    for m in models:
        base = m.label_text
        for (route, code), count in sorted(m.requests.items()):
            requests.samples.append(f'{mc.REQUESTS_TOTAL}{{{base},route="{route}",code="{code}"}} {count}')
        for route, histogram in sorted(m.latency.items()):
            latency.samples.extend(histogram.lines(mc.REQUEST_DURATION, f'{base},route="{route}"'))
        rows.samples.extend(m.batch_rows.lines(mc.BATCH_ROWS, base))
        errors.samples.append(f"{mc.PREDICTION_ERRORS_TOTAL}{{{base}}} {m.prediction_errors}")
        ignored.samples.append(f"{mc.IGNORED_FIELDS_TOTAL}{{{base}}} {m.ignored_fields}")
        for feature, counter in m.features.items():
            _bin_lines(bins, shares, f'{base},feature="{escape(feature)}"', counter)
            missing.samples.append(
                f'{mc.FEATURE_MISSING_TOTAL}{{{base},feature="{escape(feature)}"}} {counter.missing}'
            )
        if m.prediction is not None:
            _bin_lines(pred_bins, pred_shares, base, m.prediction)
        info.samples.append(f"{mc.MODEL_INFO}{{{base},{_info_labels(m.record)}}} 1")
    return [requests, latency, rows, errors, ignored, bins, shares, missing, pred_bins, pred_shares, info]


def _bin_lines(counts: Family, shares: Family, label_text: str, counter: BinCounter) -> None:
    reference_shares = list(counter.reference.shares) + [0.0] * len(counter.labels)
    for i, bin_label in enumerate(counter.labels):
        where = f'{label_text},bin="{escape(bin_label)}"'
        counts.samples.append(f"{counts.name}{{{where}}} {counter.counts[i]}")
        shares.samples.append(f"{shares.name}{{{where}}} {float(reference_shares[i])!r}")


def _info_labels(record: VersionRecord) -> str:
    return labels(artifact_sha256=record.artifact.sha256, spec_commit=record.spec_commit)


def _process_families() -> list[Family]:
    times = os.times()
    cpu = Family(mc.PROCESS_CPU_SECONDS, "counter", "Total user and system CPU time spent in seconds.")
    cpu.samples.append(f"{mc.PROCESS_CPU_SECONDS} {times.user + times.system!r}")
    rss = Family(mc.PROCESS_RESIDENT_MEMORY, "gauge", "Resident memory size in bytes.")
    rss.samples.append(f"{mc.PROCESS_RESIDENT_MEMORY} {resident_bytes()}")
    start = Family(mc.PROCESS_START_TIME, "gauge", "Start time of the process since unix epoch in seconds.")
    start.samples.append(f"{mc.PROCESS_START_TIME} {process_start_time()!r}")
    return [cpu, rss, start]


def resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def process_start_time() -> float:
    """From /proc on Linux (the kernel's own start time), else when this module was imported."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])
        with open("/proc/stat", "rb") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith(b"btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED_AT


__all__ = ["CONTENT_TYPE", "OTHER", "LogCounts", "ModelMetrics", "render"]
