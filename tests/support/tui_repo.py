"""A deterministic model repository for dashboard tests: fixed records, fixed commit dates."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mlopsctl.contract.records import ArtifactRef, DataFingerprint, GateResult, InputColumn, Signature, VersionRecord
from mlopsctl.registry.store import record_yaml
from mlopsctl.scaffold.init import init_repo

FIXED_DATE = "2026-01-15T10:00:00+00:00"


def fixed_record(model: str, version: int, *, auc: float, passed: bool = True) -> VersionRecord:
    return VersionRecord(
        model=model,
        version=version,
        created_at=f"2026-01-{10 + version:02d}T09:30:00+00:00",
        run_id=f"run{version:04d}",
        spec_commit=f"{version:040x}",
        spec_sha256="0" * 64,
        task="classification",
        estimator="sklearn.ensemble.RandomForestClassifier",
        params={"n_estimators": 100, "max_depth": 4 + version},
        metrics={"roc_auc": auc, "accuracy": 0.8, "f1": 0.4},
        gates=[GateResult(gate="roc_auc >= 0.75", value=auc, passed=passed)],
        gates_passed=passed,
        data=DataFingerprint(uri="data/churn.csv", sha256="a" * 64, rows=2000, columns=9, schema_sha256="b" * 64),
        environment={"python": "3.11.7"},
        artifact=ArtifactRef(uri=f"sha256/{version:02d}/x.skops", sha256=f"{version:064x}", size=1000 + version),
        signature=Signature(
            inputs=[InputColumn(name="age", type="integer")], task="classification", target="churned", classes=[0, 1]
        ),
    )


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE}
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True).stdout


def build_tui_repo(where: Path, models: int = 1) -> Path:
    """churn (v1 in staging, v2 registered) plus ``models - 1`` copies named churn-<n>."""
    root = init_repo(where, "demo").root
    spec = (root / "models/churn/model.yaml").read_text()
    for n in range(2, models + 1):
        folder = root / "models" / f"churn-{n}"
        folder.mkdir(parents=True)
        (folder / "model.yaml").write_text(spec.replace("name: churn\n", f"name: churn-{n}\n"))
    for version, auc in ((1, 0.8123), (2, 0.8311)):
        path = root / "registry" / "churn" / f"v{version}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(record_yaml(fixed_record("churn", version, auc=auc)))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Register churn@1 and churn@2")
    staging = root / "environments/staging.yaml"
    staging.write_text(staging.read_text().replace("deployments: {}", "deployments:\n  churn:\n    version: 1\n"))
    git(
        root,
        "commit",
        "-qam",
        "Promote churn@1 to staging\n\nAction: promote\nModel: churn\nVersion: 1\nEnv: staging\nStrategy: replace\n",
    )
    return root
