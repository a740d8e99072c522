"""``train`` compares the new version with what each environment runs, and refuses a regression against
the champion (``evaluation.champion`` with ``champion_margin``) (issue 13, item 12).

What an environment runs is its file as committed; the running version's metrics come from its
record. A refused version is not registered (exit 1, nothing committed), and the run is tracked
with the comparison, like a run whose gates failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlopsctl.registry.records import read_record
from tests.conftest import run_cli_process
from tests.support.champion_repo import place, require_champion
from tests.support.train_repo import git, records, sk_repo, train_json

__all__ = ["sk_repo"]


def figure(value: float) -> str:
    return f"{value:.4f}"


def train(cli: Any, root: Path, model: str, *args: str) -> Any:
    return cli("--repo", str(root), "train", model, *args)


def test_train_prints_the_comparison_with_each_environment(cli: Any, sk_repo: Path) -> None:
    train_json(cli, sk_repo, "diabetes")
    place(sk_repo, "production", "{diabetes: {version: 1}}")
    place(sk_repo, "staging", "{diabetes: {version: 1, strategy: canary, candidate: 2, weight: 20}}")
    result = train(cli, sk_repo, "diabetes", "--set", "training.params.alpha=30")
    assert result.code == 0, result.stderr
    running = read_record(sk_repo, "diabetes", 1).metrics
    payload = train_json(cli, sk_repo, "diabetes", "--set", "training.params.alpha=30", "--no-register")
    new = payload["metrics"]
    assert "Against what each environment runs (primary metric rmse, lower is better)\n" in result.stdout
    section = result.stdout.split("Against what each environment runs")[1].splitlines()
    header = section[1].split()
    assert header == [
        "metric", "new", "(diabetes@2)", "production", "diabetes@1", "difference",
        "staging", "diabetes@1,", "canary", "v2", "20%", "not", "compared", "difference",
    ]  # fmt: skip
    row = next(line for line in section if line.startswith("r2 "))
    change = f"{new['r2'] - running['r2']:+.4f}"
    assert row.split() == ["r2", figure(new["r2"]), figure(running["r2"]), change, figure(running["r2"]), change]
    assert "Registered diabetes@2" in result.stdout

    comparison = payload["comparison"]
    assert comparison["primary"] == "rmse"
    assert comparison["higher_is_better"] is False
    assert [(e["env"], e["version"], e["candidate"]) for e in comparison["environments"]] == [
        ("production", 1, None),
        ("staging", 1, "canary v2 20%"),
    ]
    assert comparison["environments"][0]["metrics"] == running
    assert comparison["environments"][0]["difference"]["rmse"] == new["rmse"] - running["rmse"]
    assert comparison["champion"] is None


def test_a_regression_against_the_champion_is_refused(sk_repo: Path) -> None:
    run_cli_process("--repo", str(sk_repo), "train", "diabetes")
    place(sk_repo, "production", "{diabetes: {version: 1}}")
    head = require_champion(sk_repo, "diabetes", "production", 0.1)
    result = run_cli_process(
        "--repo", str(sk_repo), "train", "diabetes", "--set", "training.params.alpha=30", env={"COLUMNS": "400"}
    )
    assert result.code == 1, result.stderr
    run_id = result.stdout.split("mlopsctl runs show ")[1].split()[0]
    shown = run_cli_process("--repo", str(sk_repo), "runs", "show", run_id, "-o", "json")
    run = json.loads(shown.stdout)
    running = read_record(sk_repo, "diabetes", 1).metrics["rmse"]
    new = run["metrics"]["rmse"]
    message = (
        f"diabetes@2 would be worse than production's diabetes@1 on rmse (lower is better): {figure(new)} "
        f"against {figure(running)}, {figure(new - running)} worse, more than evaluation.champion_margin 0.1 allows"
    )
    assert f"Not registered: {message}\n" in result.stdout
    assert "  to allow a smaller regression, raise evaluation.champion_margin in models/diabetes/model.yaml\n" in (
        result.stdout
    )
    assert records(sk_repo, "diabetes") == [1]
    assert git(sk_repo, "rev-parse", "HEAD") == head
    assert git(sk_repo, "status", "--porcelain", "--", "registry") == ""

    assert (run["status"], run["version"], run["gates_passed"]) == ("FINISHED", None, True)
    champion = run["comparison"]["champion"]
    assert champion["refused"] is True
    assert champion["message"] == message
    assert (champion["env"], champion["version"], champion["margin"]) == ("production", 1, 0.1)
    table = run_cli_process("--repo", str(sk_repo), "runs", "show", run_id, env={"COLUMNS": "400"})
    assert f"  champion production: {message}\n" in table.stdout
    listed = run_cli_process("--repo", str(sk_repo), "runs", "list", "diabetes", env={"COLUMNS": "400"})
    assert "refused by evaluation.champion" in listed.stdout


def test_the_refusal_in_json_and_the_margin_that_allows_it(cli: Any, sk_repo: Path) -> None:
    train_json(cli, sk_repo, "cancer")
    place(sk_repo, "production", "{cancer: {version: 1}}")
    require_champion(sk_repo, "cancer", "production", 0.0)
    worse = ("--set", "training.params.max_depth=1", "--set", "training.params.n_estimators=3")
    refused = train(cli, sk_repo, "cancer", *worse, "-o", "json")
    assert refused.code == 1
    payload = json.loads(refused.stdout)
    running = read_record(sk_repo, "cancer", 1).metrics["roc_auc"]
    new = payload["metrics"]["roc_auc"]
    assert payload["registered"] is False
    assert payload["gates_passed"] is True
    assert payload["refused"] == (
        f"cancer@2 would be worse than production's cancer@1 on roc_auc (higher is better): {figure(new)} "
        f"against {figure(running)}, {figure(running - new)} worse, more than evaluation.champion_margin 0 allows"
    )
    assert payload["not_registered"] == f"refused by evaluation.champion: {payload['refused']}"
    assert records(sk_repo, "cancer") == [1]

    allowed = train(cli, sk_repo, "cancer", *worse, "--set", "evaluation.champion_margin=0.05")
    assert allowed.code == 0, allowed.stderr
    assert (
        f"  champion production: roc_auc {figure(new)} against production's cancer@1 {figure(running)} "
        f"(higher is better): {figure(running - new)} worse, within evaluation.champion_margin 0.05\n"
    ) in allowed.stdout
    assert "Registered cancer@2" in allowed.stdout


def test_a_champion_that_runs_nothing_lets_the_first_version_register(cli: Any, sk_repo: Path) -> None:
    require_champion(sk_repo, "diabetes", "production", 0.0)
    result = train(cli, sk_repo, "diabetes")
    assert result.code == 0, result.stderr
    assert "  no environment runs diabetes yet: nothing to compare with\n" in result.stdout
    assert (
        "  champion production: production runs no version of diabetes yet: nothing to hold the new version to, "
        "so it is registered if its gates pass\n"
    ) in result.stdout
    assert "Registered diabetes@1" in result.stdout


def test_a_champion_environment_that_does_not_exist_is_named(cli: Any, sk_repo: Path) -> None:
    require_champion(sk_repo, "diabetes", "prod", 0.0)
    payload = train_json(cli, sk_repo, "diabetes")
    assert payload["version"] == 1
    assert payload["comparison"]["champion"]["message"] == (
        "evaluation.champion names 'prod', but there is no environments/prod.yaml at HEAD "
        "(environments: production, staging): nothing to hold the new version to, so it is registered if its "
        "gates pass"
    )
