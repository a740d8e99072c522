"""Helpers for the reconciler's tests (no tests here): repositories with versions, environments, cleanup.

Versions are registered through the real registry (artifact store, exclusive record, commit) from
small scikit-learn pipelines fitted directly on the template's churn sample, so a test does not pay
for the trainer; the end-to-end test trains for real. Services started by a test are stopped by
:func:`stop_everything`, which also finds processes by their marker, so a failing test leaves none.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from sklearn.ensemble import RandomForestClassifier

from mlopsctl.contract.records import GateResult, VersionRecord
from mlopsctl.deploy.api import down_environment, light_repo
from mlopsctl.deploy.processes import LocalRuntime
from mlopsctl.errors import MlopsError
from mlopsctl.registry.artifacts import dump_pipeline
from mlopsctl.registry.store import VersionDraft, artifact_store_for, register_version
from mlopsctl.scaffold.init import init_repo
from mlopsctl.spec.loader import open_repo
from tests.support.serving import churn_fitted

PROJECT = "deploytest"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
EXAMPLE = {
    "tenure_months": 12,
    "monthly_charges": 70.5,
    "support_calls": 2,
    "age": 40,
    "contract": "month-to-month",
    "payment_method": "card",
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(base: Path, versions: int = 2, name: str = PROJECT) -> Path:
    """A repository from ``init`` with versions 1..N of churn registered and committed."""
    root = init_repo(base / "repo", name).root
    for version in range(1, versions + 1):
        register(root, version)
    return root


def register(root: Path, version: int, *, passed: bool = True) -> VersionRecord:
    """Register churn@<next> (expected to be ``version``): a small forest, gates as ``passed`` says."""
    model = RandomForestClassifier(n_estimators=4 + version, max_depth=4, random_state=version)
    fitted = churn_fitted(model, version=version, rows=600)
    made = fitted.record
    value = 0.9 if passed else 0.5
    draft = VersionDraft(
        model="churn",
        run_id=f"run-{version}",
        spec_commit=git(root, "rev-parse", "HEAD"),
        spec_dirty=False,
        spec_sha256="ab" * 32,
        task="classification",
        estimator="sklearn.ensemble.RandomForestClassifier",
        params={"n_estimators": 4 + version, "max_depth": 4},
        metrics={"roc_auc": value},
        gates=[GateResult(gate="roc_auc >= 0.75", value=value, passed=passed)],
        gates_passed=passed,
        data=made.data,
        environment={},
        signature=made.signature,
        reference=made.reference,
        artifact=dump_pipeline(fitted.pipeline),
    )
    record = register_version(open_repo(root), draft)
    assert record.version == version, f"registered churn@{record.version}, expected {version}"
    return record


def write_env(
    root: Path,
    env: str,
    deployments: dict[str, dict[str, Any]],
    *,
    base_port: int,
    target: str = "local",
    commit: bool = True,
) -> None:
    """Write environments/<env>.yaml by hand (as a reviewer would merge it) and commit it."""
    document = {
        "apiVersion": "mlopsctl/v1",
        "kind": "Environment",
        "name": env,
        "target": target,
        "base_port": base_port,
        "deployments": deployments,
    }
    path = root / "environments" / f"{env}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    if commit:
        git(root, "add", str(path))
        git(root, "commit", "-q", "-m", f"Set {env}")


def marked_pids(root: Path, env: str | None = None) -> list[int]:
    """Pids of live service processes that carry this repository's marker."""
    return sorted(i.pid for i in LocalRuntime(light_repo(root)).marked(env) if i.pid is not None)


def stop_everything(root: Path) -> None:
    """down for every environment, then any marked process that is still there (a test failed midway)."""
    repo = light_repo(root)
    for file in sorted((root / "environments").glob("*.yaml")):
        with contextlib.suppress(MlopsError):
            down_environment(repo, file.stem)
    runtime = LocalRuntime(repo)
    for instance in runtime.marked():
        runtime.stop(instance)


def corrupt_artifact(root: Path, version: int) -> Path:
    """Change churn@version's artifact in the store (same size, still a zip whose schema passes the
    trust policy, so apply's pre-start check lets it through): the service refuses its digest."""
    repo = open_repo(root)
    record = yaml.safe_load((root / "registry" / "churn" / f"v{version}.yaml").read_text())
    path = artifact_store_for(repo).path_for(record["artifact"]["sha256"])
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF  # the first member's modification time in its local header: nothing reads it
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    return path


def ask(port: int, count: int = 1) -> collections.Counter[int]:
    """Send ``count`` predictions; how many answers each version gave."""
    body = json.dumps({"record": EXAMPLE}).encode()
    versions: collections.Counter[int] = collections.Counter()
    for _ in range(count):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with _OPENER.open(request, timeout=10) as response:
            versions[int(json.load(response)["version"])] += 1
    return versions


def metadata(port: int) -> dict[str, Any]:
    with _OPENER.open(f"http://127.0.0.1:{port}/metadata", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
        return data


def state(root: Path, env: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".mlops" / "deploy" / f"{env}.json").read_text())
    return data
