"""The Prometheus port against a real Prometheus (tests/integration/services.py): queries are recorded."""

from __future__ import annotations

import time

import pytest

from mlopsctl import oplog
from mlopsctl.errors import PrometheusUnreachable
from mlopsctl.ports.prometheus import PrometheusConnection
from tests.support.services import PrometheusServer, free_port, require_prometheus


def test_a_query_is_answered_and_recorded(operations: list[oplog.Operation]) -> None:
    require_prometheus()
    with PrometheusServer() as prometheus:
        url = prometheus.url
        rows = PrometheusConnection(url, None, timeout=10).query("vector(1)", time.time())
    assert [row["value"][1] for row in rows] == ["1"]
    [operation] = operations
    assert (operation.kind, operation.command, operation.ok) == ("prometheus", "query vector(1)", True)
    assert operation.detail == f"1 series from {url}"


def test_an_unreachable_prometheus_is_recorded_as_failed(operations: list[oplog.Operation]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PrometheusUnreachable) as caught:
        PrometheusConnection(url, None, timeout=5).query("up", time.time())
    assert caught.value.message == f"cannot reach Prometheus at {url}: connection refused"
    assert [(op.kind, op.command, op.ok, op.detail) for op in operations] == [
        ("prometheus", "query up", False, caught.value.message)
    ]
