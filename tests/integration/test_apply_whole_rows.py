"""A service started by ``apply`` takes rows as they are stored (issue 13, item 6): the version record
carries the spec's declared data columns (``signature.data_columns``), so ids, the time column and
the label are accepted and ignored with no option; a name the spec never declared is 422, unless
the spec sets ``serving.unknown_fields: ignore``, which ``apply`` passes on to the service."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.scaffold.init import init_repo
from tests.conftest import run_cli_process
from tests.support.apply_repo import git, stop_everything
from tests.support.services import free_port

pytestmark = pytest.mark.slow
STORED_ROW = {
    "customer_id": "C000042",
    "signup_date": "2024-01-31",
    "tenure_months": 3,
    "monthly_charges": 95.0,
    "contract": "month-to-month",
    "payment_method": "card",
    "support_calls": 4,
    "age": 23,
    "churned": 1,
}


def make_repo(base: Path, unknown_fields: str) -> Path:
    root = init_repo(base, "rows").root
    spec_file = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["training"]["params"]["n_estimators"] = 10
    spec["training"].pop("grid", None)
    spec["evaluation"]["gates"] = ["roc_auc >= 0.6"]
    spec.setdefault("serving", {})["unknown_fields"] = unknown_fields
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    env_file = root / "environments" / "staging.yaml"
    env = yaml.safe_load(env_file.read_text())
    env["base_port"] = free_port()
    env_file.write_text(yaml.safe_dump(env, sort_keys=False))
    git(root, "commit", "-qam", f"Small forest, unknown_fields: {unknown_fields}")
    for step in (
        ("train", "churn"),
        ("promote", "churn@1", "--env", "staging", "--direct"),
        ("apply", "--env", "staging"),
    ):
        result = run_cli_process("--repo", str(root), *step)
        assert result.code == 0, f"{step}: {result.stdout}{result.stderr}"
    return root


@pytest.fixture(params=["reject", "ignore"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    root = make_repo(tmp_path / "repo", request.param)
    try:
        yield request.param, int(yaml.safe_load((root / "environments" / "staging.yaml").read_text())["base_port"])
    finally:
        stop_everything(root)


def predict(port: int, row: dict[str, Any]) -> tuple[int, Any]:
    body = json.dumps({"records": [row]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_stored_rows_are_answered_and_undeclared_names_follow_the_spec(served: tuple[str, int]) -> None:
    policy, port = served
    status, answer = predict(port, STORED_ROW)
    assert status == 200, answer
    assert len(answer["predictions"]) == 1
    status, answer = predict(port, {**STORED_ROW, "referrer": "ad"})
    if policy == "reject":
        assert status == 422
        assert "unknown field 'referrer'" in json.dumps(answer)
    else:
        assert status == 200, answer
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            metrics = response.read().decode()
        assert any(
            line.startswith("mlops_ignored_fields_total{") and line.endswith(" 1") for line in metrics.splitlines()
        ), [line for line in metrics.splitlines() if "ignored" in line]
