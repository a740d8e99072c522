"""A hostile version committed to a model repository (issue 11): its artifact carries a class that
scikit-learn merely re-exports from the standard library. ``validate`` names it in CI, and the
real ``mlopsctl serve`` and ``apply`` refuse it with exit 1 before anything in it is built.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.ensemble import RandomForestClassifier

from mlopsctl.contract.records import GateResult
from mlopsctl.registry.artifacts import dump_pipeline
from mlopsctl.registry.store import VersionDraft, register_version
from mlopsctl.spec.loader import open_repo
from tests.support.apply_repo import git, make_repo, marked_pids, stop_everything, write_env
from tests.support.hostile_artifacts import LISTENER, assert_untouched, listener, reexport, with_payload
from tests.support.services import free_port
from tests.support.serving import churn_fitted

pytestmark = pytest.mark.slow


@pytest.fixture
def marker() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="mk", dir="/tmp"))
    os.utime(folder, ns=(0, 0))
    yield folder / "ran"
    shutil.rmtree(folder)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = make_repo(tmp_path, versions=1)
    yield root
    stop_everything(root)


def register_hostile(root: Path, marker: Path) -> str:
    """Register churn@2 whose artifact would bind a socket at ``marker`` if it were built; its sha256."""
    fitted = churn_fitted(RandomForestClassifier(n_estimators=3, max_depth=3, random_state=2), version=2, rows=600)
    artifact = with_payload(listener(marker), dump_pipeline(fitted.pipeline))
    draft = VersionDraft(
        model="churn",
        run_id="run-2",
        spec_commit=git(root, "rev-parse", "HEAD"),
        spec_dirty=False,
        spec_sha256="ab" * 32,
        task="classification",
        estimator="sklearn.ensemble.RandomForestClassifier",
        params={"n_estimators": 3, "max_depth": 3},
        metrics={"roc_auc": 0.9},
        gates=[GateResult(gate="roc_auc >= 0.75", value=0.9, passed=True)],
        gates_passed=True,
        data=fitted.record.data,
        environment={},
        signature=fitted.record.signature,
        reference=fitted.record.reference,
        artifact=artifact,
    )
    assert register_version(open_repo(root), draft).version == 2
    return hashlib.sha256(artifact).hexdigest()


def refusal(sha256: str) -> str:
    return f"artifact sha256:{sha256[:12]} contains types mlopsctl will not load: {LISTENER} ({reexport(LISTENER)})"


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``mlopsctl`` in a subprocess (the timeout only stops a test that would hang forever)."""
    return subprocess.run(
        [sys.executable, "-m", "mlopsctl", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
        check=False,
    )


def test_serve_refuses_the_hostile_version_naming_the_class(repo: Path, marker: Path) -> None:
    sha256 = register_hostile(repo, marker)
    done = run(repo, "serve", "churn@2", "--port", str(free_port()))
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == f"error: Artifact refused: {refusal(sha256)}"
    assert_untouched(marker)


def test_apply_refuses_the_hostile_version_naming_the_class(repo: Path, marker: Path) -> None:
    sha256 = register_hostile(repo, marker)
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 2}}, base_port=port)
    done = run(repo, "apply", "--env", "staging", "--timeout", "90")
    assert done.returncode == 1
    said = " ".join(done.stderr.split())  # refused from the schema alone, before any process starts
    assert (
        f"the artifact of churn@2 (sha256:{sha256[:12]}) contains types mlopsctl will not load: "
        f"{LISTENER} ({reexport(LISTENER)})"
    ) in said
    assert "never became ready" not in done.stdout + done.stderr
    assert marked_pids(repo) == []
    assert_untouched(marker)


def test_validate_names_the_refused_class_at_the_record(repo: Path, marker: Path) -> None:
    sha256 = register_hostile(repo, marker)
    record = repo / "registry" / "churn" / "v2.yaml"
    lines = record.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.endswith(f"sha256: {sha256}"))
    column = lines[line - 1].index(sha256) + 1
    done = run(repo, "validate")
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == f"registry/churn/v2.yaml:{line}:{column}: artifact.sha256: {refusal(sha256)}"
    assert_untouched(marker)


def test_validate_refuses_an_estimator_package_that_only_starts_like_sklearn(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sklearnpwn`` is not ``sklearn``: it is refused before it is imported (importing runs its code)."""
    package = tmp_path / "site" / "sklearnpwn"
    package.mkdir(parents=True)
    imported = tmp_path / "imported"
    (package / "__init__.py").write_text(f"open({str(imported)!r}, 'w').close()\nclass Model: ...\n")
    spec_file = repo / "models" / "churn" / "model.yaml"
    spec: dict[str, Any] = yaml.safe_load(spec_file.read_text())
    spec["training"]["estimator"] = "sklearnpwn.Model"
    spec["training"]["params"] = {}
    spec["training"].pop("grid", None)
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    done = run(repo, "validate")
    assert done.returncode == 1
    assert (
        "training.estimator: estimator 'sklearnpwn.Model' is outside scikit-learn; "
        "allowed packages: sklearn, xgboost, lightgbm" in done.stdout + done.stderr
    )
    assert not imported.exists()


def test_apply_refuses_an_artifact_that_is_not_a_skops_file_before_starting(repo: Path) -> None:
    record = yaml.safe_load((repo / "registry" / "churn" / "v1.yaml").read_text())
    sha256 = record["artifact"]["sha256"]
    path = open_repo(repo).artifact_dir / "sha256" / sha256[:2] / f"{sha256}.skops"
    os.chmod(path, 0o644)
    path.write_bytes(b"x" * path.stat().st_size)
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    done = run(repo, "apply", "--env", "staging", "--timeout", "90")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        f"error: Apply failed: staging: churn v1 on local :{port} cannot start: the artifact of churn@1 "
        f"(sha256:{sha256[:12]}) cannot be read: artifact sha256:{sha256[:12]} is not a readable skops file: "
        "BadZipFile: File is not a zip file"
    )
    assert marked_pids(repo) == []
