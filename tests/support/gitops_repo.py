"""A model repository ready for promotions: a bare remote, registered versions, and a promote helper."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.scaffold.init import init_repo

STAGING = "environments/staging.yaml"


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def write_record(root: Path, model: str, version: int, *, passed: bool = True) -> Path:
    """A registry record as the registry writes it: registry/<model>/v<N>.yaml (only what gitops reads)."""
    value = 0.91 if passed else 0.62
    record: dict[str, Any] = {
        "apiVersion": "mlopsctl/v1",
        "kind": "ModelVersion",
        "model": model,
        "version": version,
        "created_at": "2024-05-01T10:00:00Z",
        "run_id": f"run-{model}-{version}",
        "spec_commit": "0" * 40,
        "spec_sha256": "1" * 64,
        "task": "classification",
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "metrics": {"roc_auc": value},
        "gates": [
            {"gate": "roc_auc >= 0.75", "value": value, "passed": passed},
            {"gate": "p95_latency_ms <= 50", "value": 12.5, "passed": True},
        ],
        "gates_passed": passed,
        "data": {"uri": "data/churn.csv", "sha256": "2" * 64, "rows": 500, "columns": 8, "schema_sha256": "3" * 64},
        "artifact": {"uri": f"artifacts/{version}", "sha256": "4" * 64, "size": 1000},
        "signature": {"inputs": [{"name": "age", "type": "integer"}], "task": "classification", "target": "churned"},
    }
    path = root / "registry" / model / f"v{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    return path


def add_model(root: Path, name: str) -> None:
    """Another model, a copy of the template's churn spec under a new name."""
    spec = (root / "models" / "churn" / "model.yaml").read_text().replace("name: churn", f"name: {name}", 1)
    (root / "models" / name).mkdir(parents=True, exist_ok=True)
    (root / "models" / name / "model.yaml").write_text(spec)


@dataclass
class GitopsRepo:
    root: Path
    remote: Path

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def remote_file(self, path: str, ref: str = "main") -> str:
        return git(self.remote, "show", f"{ref}:{path}")

    def head(self) -> str:
        return git(self.root, "rev-parse", "HEAD")


def make_gitops_repo(
    base: Path, models: tuple[str, ...] = ("churn",), versions: int = 3, remote_path: str = "remote.git"
) -> GitopsRepo:
    """An initialised repo with passing versions 1..N (and a failed N+1) of each model, pushed to a bare remote."""
    root = init_repo(base / "repo", "demo").root
    for name in models:
        if name != "churn":
            add_model(root, name)
        for version in range(1, versions + 1):
            write_record(root, name, version)
        write_record(root, name, versions + 1, passed=False)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Register versions")
    remote = base / remote_path
    remote.parent.mkdir(parents=True, exist_ok=True)
    git(base, "init", "-q", "--bare", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "-q", "origin", "main")
    return GitopsRepo(root, remote)


def promote(cli: Any, repo: GitopsRepo, *args: str) -> Any:
    return cli("promote", *args, "--repo", str(repo.root))
