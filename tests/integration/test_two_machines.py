"""A team, not one laptop (issue 14): machine A trains with a shared artifact store and pushes Git;
machine B, a fresh clone with an empty state folder and only the Git remote and the store's address,
runs the CI job's steps (validate, plan, apply) and serves the very model A trained.

Real pieces: a bare Git remote, Debian's distribution registry on loopback (``oci://``), moto's S3
server (``s3://``), the installed ``mlopsctl`` entry point in subprocesses, a real service process.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_cli_process
from tests.support.apply_repo import git, stop_everything
from tests.support.stores import team_store
from tests.support.team_repo import team_repo

pytestmark = pytest.mark.slow
ROWS = [
    {
        "tenure_months": 3,
        "monthly_charges": 95.0,
        "contract": "month-to-month",
        "payment_method": "card",
        "support_calls": 4,
        "age": 23,
    },
    {
        "tenure_months": 60,
        "monthly_charges": 20.0,
        "contract": "two-year",
        "payment_method": "bank-transfer",
        "support_calls": 0,
        "age": 61,
    },
]


@pytest.fixture(params=["oci", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """What a runner sets to reach the shared store: its address and (S3) boto3's own variables."""
    with team_store(request.param, tmp_path / request.param) as (variables, _endpoint):
        yield variables


@pytest.fixture
def machine_a(tmp_path: Path) -> Path:
    """A's repository (the template with a small forest, staging on a free port), pushed to a bare remote."""
    return team_repo(tmp_path)


def cli(root: Path, env: dict[str, str], *args: str) -> Any:
    return run_cli_process("--repo", str(root), *args, env=env)


def predictions(port: int) -> list[Any]:
    body = json.dumps({"records": ROWS}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: list[Any] = json.load(response)["predictions"]
    return answer


def test_a_fresh_clone_applies_what_another_machine_trained(
    machine_a: Path, store: dict[str, str], tmp_path: Path
) -> None:
    trained = cli(machine_a, store, "train", "churn")
    assert trained.code == 0, trained.stdout + trained.stderr
    promoted = cli(machine_a, store, "promote", "churn@1", "--env", "staging", "--direct")
    assert promoted.code == 0, promoted.stdout + promoted.stderr
    git(machine_a, "push", "-q", "origin", "HEAD:main")

    machine_b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(tmp_path / "remote.git"), str(machine_b))
    assert not (machine_b / ".mlops").exists()
    try:
        for step in (("validate",), ("plan", "--env", "staging"), ("apply", "--env", "staging")):
            result = cli(machine_b, store, *step)
            assert result.code == 0, f"{step}: {result.stdout}{result.stderr}"
        plan = json.loads(cli(machine_b, store, "plan", "--env", "staging", "-o", "json").stdout)
        assert (plan["changes"], plan["counts"]["in_sync"]) == ([], 1), plan
        served_b = predictions(_port(machine_b))
        shown = json.loads(cli(machine_b, store, "registry", "show", "churn@1", "-o", "json").stdout)
        assert shown["artifact_state"] == "verified"
    finally:
        stop_everything(machine_b)
    try:
        assert cli(machine_a, store, "apply", "--env", "staging").code == 0
        assert predictions(_port(machine_a)) == served_b
    finally:
        stop_everything(machine_a)


def test_a_clone_without_the_store_is_told_by_plan_what_is_missing(
    machine_a: Path, store: dict[str, str], tmp_path: Path
) -> None:
    assert cli(machine_a, store, "train", "churn").code == 0
    assert cli(machine_a, store, "promote", "churn@1", "--env", "staging", "--direct").code == 0
    git(machine_a, "push", "-q", "origin", "HEAD:main")
    machine_c = tmp_path / "c"
    git(tmp_path, "clone", "-q", str(tmp_path / "remote.git"), str(machine_c))
    planned = cli(machine_c, {}, "plan", "--env", "staging")
    assert planned.code == 1, planned.stdout + planned.stderr
    assert "the artifact of churn@1" in planned.stdout + planned.stderr
    assert "MLOPS_ARTIFACT_STORE" in planned.stdout + planned.stderr


def _port(root: Path) -> int:
    env = yaml.safe_load((root / "environments" / "staging.yaml").read_text())
    return int(env["base_port"])
