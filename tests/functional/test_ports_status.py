"""``mlopsctl status`` against a direct-scrape service records its HTTP calls in the operation log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlopsctl import oplog
from tests.support.services import free_port
from tests.support.status_repo import (
    ContractExporter,
    make_reference,
    serving,
    set_environment,
    training_data,
    write_record,
)


def test_status_records_each_scrape(cli: Any, model_repo: Path) -> None:
    reference = make_reference(training_data(model_repo))
    write_record(model_repo, "churn", 1, reference)
    write_record(model_repo, "churn", 2, reference)
    down = free_port()
    operations: list[oplog.Operation] = []
    unsubscribe = oplog.subscribe(operations.append)
    try:
        with serving(ContractExporter("churn", {(1, "stable"): reference})) as port:
            deployments = {"churn": {"version": 1, "port": port}}
            set_environment(model_repo, "staging", deployments)
            cli("status", "--repo", str(model_repo), "--env", "staging", "-o", "json")
            set_environment(model_repo, "staging", {"churn": {"version": 1, "port": down}})
            cli("status", "--repo", str(model_repo), "--env", "staging", "-o", "json")
    finally:
        unsubscribe()
    scrapes = [(op.kind, op.command, op.ok) for op in operations if op.kind == "http"]
    assert scrapes == [
        ("http", f"GET http://127.0.0.1:{port}/metrics", True),
        ("http", f"GET http://127.0.0.1:{down}/metrics", False),
    ]
