"""Metrics sources: the text-format parser, batched PromQL, and the direct-scrape history."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from mlopsctl.monitor import promtext
from mlopsctl.monitor.health import histogram_quantile, window_queries
from mlopsctl.monitor.sources import Query, ScrapeSource, counter_increase
from mlopsctl.monitor.targets import Endpoint
from tests.support.services import MetricsHTTPServer

EXPOSITION = r"""# HELP mlops_feature_bin_total Observed values per bin.
# TYPE mlops_feature_bin_total counter
mlops_feature_bin_total{model="churn",version="3",role="stable",feature="age",bin="+Inf"} 12
mlops_feature_bin_total{model="churn",version="3",role="stable",feature="city",bin="a \"quoted\" \\ name"} 1.5e3
process_start_time_seconds 1.7e9
weird{le="+Inf"} +Inf 1700000000000
nan_value NaN
"""


def test_parse_text_format() -> None:
    samples = promtext.parse(EXPOSITION)
    assert [s.name for s in samples] == [
        "mlops_feature_bin_total",
        "mlops_feature_bin_total",
        "process_start_time_seconds",
        "weird",
        "nan_value",
    ]
    assert samples[0].label("bin") == "+Inf"
    assert samples[0].value == 12.0
    assert samples[1].label("bin") == 'a "quoted" \\ name'
    assert samples[1].value == 1500.0
    assert samples[3].value == math.inf
    assert math.isnan(samples[4].value)


def test_parse_error_names_the_line() -> None:
    with pytest.raises(promtext.ParseError, match=r"line 2: not a number: 'twelve'"):
        promtext.parse("ok 1\nbad twelve\n")


def test_counter_increase_counts_resets_from_zero() -> None:
    assert counter_increase([0, 5, 9]) == 9
    assert counter_increase([10, 15, 3, 7]) == 5 + 3 + 4
    assert counter_increase([4]) == 0


def test_queries_sum_after_increase_never_before() -> None:
    queries = window_queries(3600)
    bins = queries["bins"].promql(["staging", "production"])
    assert bins == (
        'sum by (env, model, version, role, feature, bin) (increase(mlops_feature_bin_total{env=~"staging|production"}'
        "[3600s]))"
    )
    for query in queries.values():
        text = query.promql(["staging"])
        assert "increase(sum" not in text and "rate(sum" not in text
    assert queries["up"].promql([]) == 'max by (env, instance) (up{env!=""})'
    requests = queries["requests"].promql(["staging"])
    assert requests == (
        "sum by (env, model, version, role, code) (increase(mlops_requests_total"
        '{route!~"/metrics|/health.*|/metadata.*",env=~"staging"}[3600s]))'
    )


def test_queries_do_not_depend_on_how_many_models() -> None:
    """One query per metric: nothing in a query names a model."""
    for query in window_queries(600).values():
        assert "model=" not in query.promql(["staging"])


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.5, 0.15),  # rank 50 in (0.1, 0.2] holding 20..80 -> 0.1 + 0.1 * 30/60
        (0.95, 0.2 + 0.3 * (95 - 80) / 20),
        (0.99, 0.2 + 0.3 * (99 - 80) / 20),
    ],
)
def test_histogram_quantile_interpolates_like_prometheus(q: float, expected: float) -> None:
    buckets = {0.1: 20.0, 0.2: 80.0, 0.5: 100.0, math.inf: 100.0}
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


def test_histogram_quantile_edge_cases() -> None:
    assert math.isnan(histogram_quantile(0.5, {0.1: 0.0, math.inf: 0.0}))  # no requests: 0/0
    assert histogram_quantile(0.99, {0.1: 10.0, math.inf: 20.0}) == 0.1  # in +Inf: the highest finite bound
    assert histogram_quantile(0.5, {0.1: 10.0, math.inf: 10.0}) == 0.05  # first bucket from 0


def exposition(value: float, start: float, bins: dict[str, float] | None = None) -> str:
    lines = [f"process_start_time_seconds {start}"]
    for label, count in (bins or {"1.0": value, "+Inf": 0.0}).items():
        lines.append(
            f'mlops_feature_bin_total{{model="m",version="1",role="stable",feature="x",bin="{label}"}} {count}'
        )
    return "\n".join(lines) + "\n"


def bin_query(window: float = 600) -> Query:
    return Query("increase", "mlops_feature_bin_total", ("env", "model", "bin"), window)


def test_scrape_source_counts_from_the_service_start_inside_the_window() -> None:
    with MetricsHTTPServer(exposition(40, time.time() - 5)) as server:
        source = ScrapeSource([Endpoint("m", 1, "stable", "127.0.0.1", server.port, "staging")])
        (results,) = source.fetch([bin_query()])
    by_bin = {r.labels["bin"]: r.value for r in results}
    assert by_bin == {"1.0": 40.0, "+Inf": 0.0}
    assert results[0].labels == {"env": "staging", "model": "m", "bin": "1.0"}


def test_scrape_source_history_handles_a_reset() -> None:
    started = time.time() - 5
    with MetricsHTTPServer(exposition(40, started)) as server:
        source = ScrapeSource([Endpoint("m", 1, "stable", "127.0.0.1", server.port, "staging")])
        source.fetch([bin_query()])
        server.text = exposition(55, started)
        source.fetch([bin_query()])
        server.text = exposition(7, time.time())  # restarted: back to 0, then 7 more
        (results,) = source.fetch([bin_query()])
    assert {r.labels["bin"]: r.value for r in results}["1.0"] == 55 + 7


def test_scrape_source_window_starts_at_the_last_sample_before_it() -> None:
    with MetricsHTTPServer(exposition(100, time.time() - 3600)) as server:
        source = ScrapeSource([Endpoint("m", 1, "stable", "127.0.0.1", server.port, "staging")])
        source.fetch([bin_query(0.2)])
        time.sleep(0.3)
        server.text = exposition(130, time.time() - 3600)
        (results,) = source.fetch([bin_query(0.2)])
    assert {r.labels["bin"]: r.value for r in results}["1.0"] == 30


def test_scrape_source_up_and_down(tmp_path: Path) -> None:
    with MetricsHTTPServer(exposition(1, time.time())) as server:
        port = server.port
        alive = Endpoint("m", 1, "stable", "127.0.0.1", port, "staging")
        source = ScrapeSource([alive, Endpoint("m", 2, "canary", "127.0.0.1", port, "staging")])
        (up,) = source.fetch([Query("last", "up", ("env", "instance"))])
    assert [(r.labels["instance"], r.value) for r in up] == [(f"127.0.0.1:{port}", 1.0)]
    (down,) = source.fetch([Query("last", "up", ("env", "instance"))])
    assert [r.value for r in down] == [0.0]
    assert len(source.targets) == 1  # stable and canary share one service: scraped once
