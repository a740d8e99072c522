"""``mlopsctl registry list`` and ``registry show`` on real repositories with registered versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.contract.records import VersionRecord
from mlopsctl.registry.records import read_record
from mlopsctl.registry.store import artifact_store_for, register_version
from mlopsctl.spec.loader import open_repo
from tests.conftest import run_cli_process
from tests.support.registry_authors import addition, git
from tests.support.registry_drafts import artifact_bytes, make_draft

STAGING = """apiVersion: mlopsctl/v1
kind: Environment
name: staging
deployments:
  churn: {version: 1, strategy: canary, candidate: 2, weight: 10}
"""
PRODUCTION = """apiVersion: mlopsctl/v1
kind: Environment
name: production
deployments:
  churn: {version: 1}
"""


@pytest.fixture
def registered(model_repo: Path) -> list[VersionRecord]:
    """churn v1 (production, staging stable), v2 (staging canary), v3 (archived); fraud v1."""
    repo = open_repo(model_repo)
    records = [
        register_version(repo, make_draft("churn", c=1.0, run_id="run-1")),
        register_version(repo, make_draft("churn", c=0.01, run_id="run-2")),
        register_version(repo, make_draft("churn", c=0.1, run_id="run-3", gates_passed=False)),
        register_version(repo, make_draft("fraud", c=1.0, run_id="run-4")),
    ]
    (model_repo / "environments" / "staging.yaml").write_text(STAGING)
    (model_repo / "environments" / "production.yaml").write_text(PRODUCTION)
    (model_repo / "registry" / "churn" / "archived.yaml").write_text(
        "archived:\n- version: 3\n  reason: gates failed\n"
    )
    git(model_repo, "add", "environments", "registry/churn/archived.yaml")
    git(model_repo, "commit", "-q", "-m", "Deploy churn, archive churn@3")
    return records


def tokens(line: str) -> list[str]:
    return line.split()


def words(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


def test_list_on_a_fresh_repository(cli: Any, model_repo: Path) -> None:
    result = cli("registry", "list", "--repo", str(model_repo))
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout == "no registered versions yet; register one with: mlopsctl train MODEL\n"
    result = cli("registry", "list", "--repo", str(model_repo), "-o", "json")
    assert json.loads(result.stdout) == {"models": []}


def test_list_shows_one_row_per_model_with_where_its_versions_run(
    cli: Any, model_repo: Path, registered: list[VersionRecord]
) -> None:
    result = cli("registry", "list", "--repo", str(model_repo))
    assert result.code == 0, result.stderr
    churn3, fraud1 = registered[2], registered[3]
    assert words(result.stdout) == [
        ["model", "latest", "versions", "created", "registered", "by", "metrics", "gates", "artifact", "environments"],
        [
            "churn",
            "v3",
            "3",
            churn3.created_at[:10],
            "Test",
            "User",
            f"roc_auc={churn3.metrics['roc_auc']:.4g}",
            f"accuracy={churn3.metrics['accuracy']:.4g}",
            "failed",
            churn3.artifact.sha256[:10],
            *tokens("production: wants v1, running -; staging: wants v1 + v2 (canary 10%), running -"),
        ],
        [
            "fraud",
            "v1",
            "1",
            fraud1.created_at[:10],
            "Test",
            "User",
            f"roc_auc={fraud1.metrics['roc_auc']:.4g}",
            f"accuracy={fraud1.metrics['accuracy']:.4g}",
            "passed",
            fraud1.artifact.sha256[:10],
            "-",
        ],
        tokens("2 models; versions of one: mlopsctl registry list MODEL; all: --all"),
    ]


def test_list_of_one_model_shows_every_version_and_its_stage(
    cli: Any, model_repo: Path, registered: list[VersionRecord]
) -> None:
    result = cli("registry", "list", "churn", "--repo", str(model_repo))
    assert result.code == 0, result.stderr
    rows = words(result.stdout)
    assert rows[0] == [
        "model", "version", "created", "registered", "by", "metrics", "gates", "rows", "artifact", "wanted", "running",
    ]  # fmt: skip
    stages = [["production,", "staging"], ["staging", "(canary", "10%)"], ["archived"]]
    gates = ["passed", "passed", "failed"]
    assert rows[1:] == [
        [
            "churn",
            f"v{record.version}",
            *record.created_at.replace("T", " ")[:16].split(),
            "Test",
            "User",
            f"roc_auc={record.metrics['roc_auc']:.4g}",
            f"accuracy={record.metrics['accuracy']:.4g}",
            gate,
            "569",
            record.artifact.sha256[:10],
            *stage,
            "-",
        ]
        for record, gate, stage in zip(registered[:3], gates, stages, strict=True)
    ]


def test_list_json_has_every_field_scripts_need(cli: Any, model_repo: Path, registered: list[VersionRecord]) -> None:
    result = cli("registry", "list", "--all", "--repo", str(model_repo), "-o", "json")
    assert result.code == 0, result.stderr
    versions = json.loads(result.stdout)["versions"]
    assert [v["ref"] for v in versions] == ["churn@1", "churn@2", "churn@3", "fraud@1"]
    first = registered[0]
    commit, date = addition(model_repo, "registry/churn/v1.yaml")
    assert versions[0] == {
        "model": "churn",
        "version": 1,
        "ref": "churn@1",
        "created_at": first.created_at,
        "run_id": "run-1",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "task": "classification",
        "metrics": first.metrics,
        "gates_passed": True,
        "data_rows": 569,
        "data_sha256": first.data.sha256,
        "artifact_sha256": first.artifact.sha256,
        "artifact_size": first.artifact.size,
        "registered_by": {"name": "Test User", "email": "test@example.com", "date": date, "commit": commit},
        "stages": ["production", "staging"],
        "running": [],
        "archived": False,
    }
    assert versions[2]["archived"] is True
    overview = json.loads(cli("registry", "list", "--repo", str(model_repo), "-o", "json").stdout)
    assert overview["models"][0]["deployments"] == {
        "production": {"version": 1},
        "staging": {"version": 1, "strategy": "canary", "candidate": 2, "weight": 10},
    }
    assert overview["models"][0]["versions"] == 3


def test_list_does_not_need_valid_model_specs(cli: Any, model_repo: Path, registered: list[VersionRecord]) -> None:
    (model_repo / "models" / "churn" / "model.yaml").write_text("name: [broken\n")
    result = cli("registry", "list", "churn", "--repo", str(model_repo), "-o", "json")
    assert result.code == 0, result.stderr
    assert len(json.loads(result.stdout)["versions"]) == 3


def test_list_of_a_model_without_versions(cli: Any, model_repo: Path, registered: list[VersionRecord]) -> None:
    result = cli("registry", "list", "nope", "--repo", str(model_repo))
    assert result.code == 1
    assert result.stderr == (
        f"error: Not found: nope has no registered versions in {model_repo / 'registry' / 'nope'}\n"
        "hint: models with versions: churn, fraud\n"
    )


def test_show_groups_everything_in_the_record(cli: Any, model_repo: Path, registered: list[VersionRecord]) -> None:
    result = cli("registry", "show", "churn@1", "--repo", str(model_repo))
    assert result.code == 0, result.stderr
    out = result.stdout
    record = registered[0]
    assert out.splitlines()[0] == (
        "churn@1  classification  sklearn.linear_model.LogisticRegression  stage: production, staging"
    )
    for title in ["Lineage", "Metrics", "Gates", "Params", "Environment", "Artifact", "Signature"]:
        assert f"\n{title}\n" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["spec", "commit", record.spec_commit] in lines
    assert ["data", "shape", "569", "rows", "x", "6", "columns"] in lines
    assert ["roc_auc", f"{record.metrics['roc_auc']:.6g}"] in lines
    assert ["pass", "roc_auc", ">=", "0.85", "measured", f"{record.metrics['roc_auc']:.6g}"] in lines
    assert ["C", "1.0"] in lines
    assert ["sha256", record.artifact.sha256] in lines
    assert ["state", "verified"] in lines
    assert ["drift", "reference", "5", "features", "binned"] in lines


def test_list_refuses_a_model_name_that_is_a_path(cli: Any, model_repo: Path) -> None:
    result = cli("registry", "list", "../models", "--repo", str(model_repo))
    assert result.code == 2
    assert result.stderr == (
        "error: Usage error: '../models' is not a valid model name\n"
        "hint: use lower-case letters, digits and dashes, starting with a letter\n"
    )


def test_show_json_is_the_record_plus_its_state(cli: Any, model_repo: Path, registered: list[VersionRecord]) -> None:
    result = cli("registry", "show", "churn@latest", "--repo", str(model_repo), "-o", "json")
    assert result.code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["ref"] == "churn@3"
    assert shown["record"] == read_record(model_repo, "churn", 3).model_dump(mode="json")
    assert (shown["stages"], shown["archived"], shown["artifact_state"]) == ([], True, "verified")


def test_show_reports_a_swapped_or_missing_artifact_and_fails(
    cli: Any, model_repo: Path, registered: list[VersionRecord]
) -> None:
    store = artifact_store_for(open_repo(model_repo))
    path = store.path_for(registered[1].artifact.sha256)
    path.chmod(0o644)
    path.write_bytes(artifact_bytes(1.0))
    result = cli("registry", "show", "churn@2", "--repo", str(model_repo), "-o", "json")
    assert (result.code, json.loads(result.stdout)["artifact_state"]) == (1, "digest mismatch")
    path.unlink()
    result = cli("registry", "show", "churn@2", "--repo", str(model_repo))
    assert result.code == 1
    assert ["state", "missing"] in [line.split() for line in result.stdout.splitlines()]
    assert cli("registry", "show", "churn@2", "--no-verify", "--repo", str(model_repo)).code == 0


def test_show_errors_name_what_is_wrong(cli: Any, model_repo: Path, registered: list[VersionRecord]) -> None:
    result = cli("registry", "show", "churn", "--repo", str(model_repo))
    assert result.code == 2
    assert result.stderr == (
        "error: Usage error: 'churn' is not a model version reference\n"
        "hint: write MODEL@VERSION, e.g. churn@3, churn@v3 or churn@latest\n"
    )
    result = cli("registry", "show", "churn@9", "--repo", str(model_repo))
    assert result.code == 1
    assert result.stderr == (
        f"error: Not found: no version churn@9 in {model_repo / 'registry' / 'churn'}\nhint: versions of churn: 1, 2, 3\n"
    )


def test_outside_a_repository(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("registry", "list")
    assert result.code == 2
    assert result.stderr.startswith(
        f"error: Not a model repository: no mlops.yaml in {tmp_path} or any folder above it\n"
    )


def test_the_real_entry_point_lists_as_json(model_repo: Path, registered: list[VersionRecord]) -> None:
    result = run_cli_process("registry", "list", "fraud", "-o", "json", cwd=model_repo)
    assert (result.code, result.stderr) == (0, "")
    assert [v["ref"] for v in json.loads(result.stdout)["versions"]] == ["fraud@1"]
