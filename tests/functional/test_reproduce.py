"""``mlopsctl reproduce``: a registered version trained again from its commit and data comes out the same."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mlopsctl.registry.records import read_record
from tests.support.train_repo import cancer_frame, commit_all, git, sk_repo, train_json

__all__ = ["sk_repo"]


def reproduce(cli: Any, root: Path, ref: str, *args: str) -> Any:
    return cli("--repo", str(root), "reproduce", ref, *args)


def test_reproduce_matches_metrics_predictions_and_artifact(cli: Any, sk_repo: Path) -> None:
    train_json(cli, sk_repo, "cancer", "--set", "training.params.n_estimators=10")
    result = reproduce(cli, sk_repo, "cancer@1")
    assert result.code == 0, result.stderr
    assert "Reproduced cancer@1 from commit" in result.stdout
    assert "Metrics match." in result.stdout
    assert "predictions: identical on 143 held-out rows" in result.stdout
    record = read_record(sk_repo, "cancer", 1)
    assert f"artifact:    identical bytes (sha256 {record.artifact.sha256[:12]})" in result.stdout

    payload = json.loads(reproduce(cli, sk_repo, "cancer@1", "-o", "json").stdout)
    assert payload["metrics_match"] is True
    assert {check["name"] for check in payload["metrics"]} == set(record.metrics) - {
        "p50_latency_ms",
        "p95_latency_ms",
        "p99_latency_ms",
    }
    assert all(check["exact"] for check in payload["metrics"])
    assert payload["predictions"] == {"rows": 143, "differ": 0, "matches": True, "max_probability_difference": 0.0}
    assert payload["artifact"]["matches"] is True
    assert git(sk_repo, "status", "--porcelain") == ""  # the working tree is not touched


def test_reproduce_uses_the_spec_at_its_commit_and_the_grid_choice(cli: Any, sk_repo: Path) -> None:
    trained = train_json(cli, sk_repo, "cancer", "--grid")
    spec = sk_repo / "models" / "cancer" / "model.yaml"
    spec.write_text(spec.read_text().replace("n_estimators: 25", "n_estimators: 3").replace("seed: 7", "seed: 99"))
    commit_all(sk_repo, "change the spec after registering v1")
    payload = json.loads(reproduce(cli, sk_repo, "cancer@latest", "-o", "json").stdout)
    assert payload["ref"] == "cancer@1"
    assert payload["metrics_match"] is True
    assert [check["reproduced"] for check in payload["metrics"]] == [
        trained["metrics"][check["name"]] for check in payload["metrics"]
    ]


def test_reproduce_refuses_changed_data(cli: Any, sk_repo: Path) -> None:
    project = sk_repo / "mlops.yaml"
    project.write_text(project.read_text() + "data_snapshot_max_bytes: 0  # no snapshot to fall back on\n")
    commit_all(sk_repo, "no data snapshots")
    train_json(cli, sk_repo, "cancer", "--set", "training.params.n_estimators=10")
    recorded = read_record(sk_repo, "cancer", 1).data
    cancer_frame().iloc[:-1].to_csv(sk_repo / "data" / "cancer.csv", index=False)
    result = reproduce(cli, sk_repo, "cancer@1")
    assert result.code == 1
    now = hashlib.sha256((sk_repo / "data" / "cancer.csv").read_bytes()).hexdigest()
    assert result.stderr == (
        "error: Data changed: the data at data/cancer.csv is not the data cancer@1 was trained on: "
        f"its sha256 is {now[:12]}, the record says {recorded.sha256[:12]} (569 rows from data/cancer.csv)\n"
        "hint: restore that exact file (e.g. git checkout or your data store), or pass it with --data PATH\n"
    )
    assert result.stdout == ""


def test_reproduce_takes_the_data_from_elsewhere(cli: Any, sk_repo: Path, tmp_path: Path) -> None:
    train_json(cli, sk_repo, "cancer", "--set", "training.params.n_estimators=10")
    moved = tmp_path / "kept.csv"
    moved.write_bytes((sk_repo / "data" / "cancer.csv").read_bytes())
    (sk_repo / "data" / "cancer.csv").write_text("gone\n")
    result = reproduce(cli, sk_repo, "cancer@1", "--data", str(moved))
    assert result.code == 0, result.stderr
    assert "Metrics match." in result.stdout


def test_reproduce_refuses_a_version_from_an_uncommitted_spec(cli: Any, sk_repo: Path) -> None:
    spec = sk_repo / "models" / "cancer" / "model.yaml"
    spec.write_text(spec.read_text().replace("n_estimators: 25", "n_estimators: 5"))
    head = git(sk_repo, "rev-parse", "HEAD")
    train_json(cli, sk_repo, "cancer")
    assert read_record(sk_repo, "cancer", 1).spec_dirty is True
    result = reproduce(cli, sk_repo, "cancer@1")
    assert result.code == 1
    assert result.stderr == (
        f"error: Not reproducible: cancer@1 was trained from a spec that differs from commit {head[:12]} "
        "(uncommitted changes, or a --set that changes the model beyond training.params); that spec was not kept, "
        "so the version cannot be reproduced\n"
        "hint: commit spec changes before training versions you may need to reproduce\n"
    )


def test_reproduce_unknown_version(cli: Any, sk_repo: Path) -> None:
    result = reproduce(cli, sk_repo, "cancer@4")
    assert result.code == 1
    assert "no version cancer@4" in result.stderr
    bad = reproduce(cli, sk_repo, "cancer-4")
    assert bad.code == 2
    assert "'cancer-4' is not a model version reference" in bad.stderr
