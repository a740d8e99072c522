"""Registering versions: exclusive record files, one commit each, safe loading, the listing index."""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.preprocessing import FunctionTransformer

from mlopsctl.errors import MlopsError, NotFound, UsageError
from mlopsctl.registry import store
from mlopsctl.registry.api import open_registry, version_rows
from mlopsctl.registry.artifacts import ArtifactRefused, dump_pipeline
from mlopsctl.registry.index import INDEX_NAME
from mlopsctl.registry.records import read_record, record_path
from mlopsctl.registry.store import (
    artifact_store_for,
    latest_version,
    list_versions,
    load_version,
    parse_record_file,
    record_yaml,
    register,
    register_version,
)
from mlopsctl.spec.loader import Repo, open_repo
from tests.support.registry_drafts import FEATURES, artifact_bytes, breast_cancer, fitted, make_draft


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(model_repo: Path) -> Repo:
    return open_repo(model_repo)


def test_register_creates_numbered_records_and_commits_each(repo: Repo) -> None:
    assert latest_version(repo, "churn") is None
    first = register(repo, make_draft(run_id="run-a"))
    second = register(repo, make_draft(c=0.01, run_id="run-b"))
    assert (first.record.version, second.record.version) == (1, 2)
    assert first.path == repo.root / "registry" / "churn" / "v1.yaml"
    assert latest_version(repo, "churn") == 2
    assert git(repo.root, "rev-parse", "HEAD").strip() == second.commit
    assert git(repo.root, "show", "--name-only", "--format=", second.commit).split() == ["registry/churn/v2.yaml"]
    assert git(repo.root, "log", "-1", "--format=%B", second.commit) == (
        "Register churn@2\n\n"
        f"roc_auc={second.record.metrics['roc_auc']:.4g} accuracy={second.record.metrics['accuracy']:.4g}; "
        "gates passed; estimator sklearn.linear_model.LogisticRegression\n\n"
        "Model: churn\nVersion: 2\nRun: run-b\n"
        f"Artifact: sha256:{second.record.artifact.sha256}\n\n"
    )
    trailers = git(repo.root, "log", "-1", "--format=%(trailers:key=Version,valueonly)", first.commit)
    assert trailers.strip() == "1"
    assert git(repo.root, "status", "--porcelain", "--", "registry").strip() == ""


def test_the_record_file_is_commented_complete_and_reads_back_equal(repo: Repo) -> None:
    registration = register(repo, make_draft())
    text = registration.path.read_text()
    assert text.startswith(
        "# churn@1: a model version registered by mlopsctl. Immutable: never edit this file.\n"
        f"# Artifact sha256:{registration.record.artifact.sha256} ({registration.record.artifact.size} bytes). "
        "Details: mlopsctl registry show churn@1\napiVersion: mlopsctl/v1\nkind: ModelVersion\nmodel: churn\nversion: 1\n"
    )
    assert read_record(repo.root, "churn", 1) == registration.record
    assert text == record_yaml(registration.record)
    assert (
        registration.record.artifact.uri
        == f"sha256/{registration.record.artifact.sha256[:2]}/{registration.record.artifact.sha256}.skops"
    )
    assert "edges: [" in text  # bins on one line keep records short and fast to read


def test_registration_commits_only_its_file_and_leaves_the_users_staged_work_alone(repo: Repo) -> None:
    notes = repo.root / "notes.md"
    notes.write_text("work in progress\n")
    git(repo.root, "add", "notes.md")
    registration = register(repo, make_draft())
    assert git(repo.root, "show", "--name-only", "--format=", str(registration.commit)).split() == [
        "registry/churn/v1.yaml"
    ]
    assert git(repo.root, "diff", "--cached", "--name-only").split() == ["notes.md"]


def test_load_version_returns_the_fitted_pipeline_latest_or_numbered(repo: Repo) -> None:
    register_version(repo, make_draft(c=1.0))
    register_version(repo, make_draft(c=0.01))
    frame = breast_cancer()[FEATURES]
    record, pipeline = load_version(repo, "churn", None)
    assert record.version == 2
    assert np.array_equal(pipeline.predict_proba(frame), fitted(0.01)[0].predict_proba(frame))
    record, pipeline = load_version(repo, "churn", 1)
    assert record.params == {"C": 1.0, "max_iter": 500}
    assert np.array_equal(pipeline.predict_proba(frame), fitted(1.0)[0].predict_proba(frame))


def test_load_of_a_model_without_versions(repo: Repo) -> None:
    with pytest.raises(NotFound) as caught:
        load_version(repo, "churn", None)
    assert caught.value.message == f"churn has no registered versions in {repo.root / 'registry' / 'churn'}"
    assert caught.value.hint == "train and register one with: mlopsctl train churn"


def test_an_artifact_swapped_in_the_store_is_refused_on_load(repo: Repo) -> None:
    record = register_version(repo, make_draft(c=1.0))
    path = artifact_store_for(repo).path_for(record.artifact.sha256)
    path.chmod(0o644)
    path.write_bytes(artifact_bytes(0.01))  # a perfectly valid skops file of another model
    with pytest.raises(ArtifactRefused, match=r"^artifact digest mismatch for .*: expected sha256:"):
        load_version(repo, "churn", 1)


def test_an_untrusted_artifact_is_refused_even_though_its_digest_is_registered(repo: Repo) -> None:
    crafted = dump_pipeline(FunctionTransformer(func=os.system))
    record = register_version(repo, make_draft(artifact=crafted))
    assert artifact_store_for(repo).get(record.artifact) == crafted
    with pytest.raises(ArtifactRefused) as caught:
        load_version(repo, "churn", record.version)
    assert caught.value.message == (
        f"artifact sha256:{record.artifact.sha256[:12]} contains types mlopsctl will not load: "
        "posix.system (not from scikit-learn, NumPy or SciPy)"
    )


def test_an_existing_record_is_never_rewritten(repo: Repo) -> None:
    register_version(repo, make_draft())
    taken = record_path(repo.root, "churn", 2)
    taken.write_text("# written by another process a moment ago\n")
    before = [(p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(taken.parent.iterdir())]
    record = register_version(repo, make_draft(c=0.01))
    assert record.version == 3
    after = [(p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(taken.parent.iterdir())[:2]]
    assert after == before
    assert sorted(p.name for p in taken.parent.iterdir()) == ["v1.yaml", "v2.yaml", "v3.yaml"]


def test_a_number_taken_after_the_listing_is_skipped_not_overwritten(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_version(repo, make_draft())
    taken = record_path(repo.root, "churn", 2)
    taken.write_text("# created by another writer after this one listed the folder\n")
    stale = iter([1])  # what the folder held when this writer looked; later looks see the truth
    real = store.latest_version
    monkeypatch.setattr(store, "latest_version", lambda repo, model: next(stale, None) or real(repo, model))
    record = register_version(repo, make_draft(c=0.01))
    assert record.version == 3
    assert taken.read_text() == "# created by another writer after this one listed the folder\n"
    assert read_record(repo.root, "churn", 3).params == {"C": 0.01, "max_iter": 500}


def test_without_commit_the_record_is_written_but_not_committed(repo: Repo) -> None:
    head = git(repo.root, "rev-parse", "HEAD")
    registration = register(repo, make_draft(), commit=False)
    assert registration.commit is None
    assert registration.path.is_file()
    assert git(repo.root, "rev-parse", "HEAD") == head
    assert git(repo.root, "status", "--porcelain", "--", "registry").strip() == "?? registry/churn/"


def test_a_failed_commit_keeps_the_complete_record_and_says_how_to_commit_it(repo: Repo) -> None:
    (repo.root / ".git" / "HEAD").rename(repo.root / "HEAD.away")  # git no longer sees a repository here
    with pytest.raises(MlopsError) as caught:
        register_version(repo, make_draft())
    assert caught.value.message.startswith(
        "churn@1 was registered in registry/churn/v1.yaml but could not be committed: "
    )
    assert caught.value.hint == (
        "the record is complete and will not change; commit it with: git add registry/churn/v1.yaml && "
        'git commit -m "Register churn@1" -- registry/churn/v1.yaml'
    )
    assert read_record(repo.root, "churn", 1).version == 1


def test_a_bad_model_name_is_refused_before_anything_is_written(repo: Repo) -> None:
    with pytest.raises(UsageError, match=r"^'\.\./evil' is not a valid model name$"):
        register_version(repo, make_draft(model="../evil"))
    assert not (repo.root / "registry" / "churn").exists()
    assert not repo.artifact_dir.exists()


def test_a_shared_store_from_mlops_yaml_as_a_file_uri_with_the_users_opt_in(
    model_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_DATA_ALLOW_OUTSIDE_REPO", "1")  # a store outside the repo is the user's choice
    shared = tmp_path / "shared-store"
    settings = model_repo / "mlops.yaml"
    settings.write_text(settings.read_text() + f"artifact_store: file://{shared}\n")
    repo = open_repo(model_repo)
    record = register_version(repo, make_draft())
    assert (shared / record.artifact.uri).read_bytes() == artifact_bytes()
    assert not (model_repo / ".mlops" / "artifacts").exists()


def test_an_unsupported_store_scheme_is_a_usage_error(model_repo: Path) -> None:
    settings = model_repo / "mlops.yaml"
    settings.write_text(settings.read_text() + "artifact_store: gs://bucket/models\n")
    with pytest.raises(UsageError) as caught:
        register_version(open_repo(model_repo), make_draft())
    assert caught.value.message == (
        f"artifact_store 'gs://bucket/models' in {model_repo / 'mlops.yaml'} uses the unsupported scheme gs://"
    )


def test_list_versions_reads_every_record_in_order(repo: Repo) -> None:
    register_version(repo, make_draft("churn"))
    register_version(repo, make_draft("fraud", c=0.01))
    register_version(repo, make_draft("churn", c=0.01))
    assert [r.ref for r in list_versions(repo)] == ["churn@1", "churn@2", "fraud@1"]
    assert [r.ref for r in list_versions(repo, "fraud")] == ["fraud@1"]


def test_a_nan_metric_survives_the_round_trip(repo: Repo) -> None:
    record = register_version(repo, make_draft(metrics={"roc_auc": float("nan"), "accuracy": 0.9}))
    assert math.isnan(read_record(repo.root, "churn", record.version).metrics["roc_auc"])
    assert math.isnan(parse_record_file(record_path(repo.root, "churn", 1))["metrics"]["roc_auc"])


def test_an_unreadable_record_names_its_file(repo: Repo) -> None:
    path = record_path(repo.root, "churn", 1)
    path.parent.mkdir(parents=True)
    path.write_text("model: [unclosed\n")
    with pytest.raises(MlopsError) as caught:
        parse_record_file(path)
    assert caught.value.title == "Unreadable record"
    assert caught.value.message.startswith(f"registry record {path} is unreadable: ")


# --------------------------------------------------------------------------- the derived index


def indexed_keys(repo: Repo) -> set[str]:
    with contextlib.closing(sqlite3.connect(repo.state_dir / INDEX_NAME)) as index:
        return {row[0] for row in index.execute("SELECT key FROM summaries")}


def test_the_index_is_derived_and_follows_the_files(repo: Repo) -> None:
    register_version(repo, make_draft())
    register_version(repo, make_draft(c=0.01))
    view = open_registry(repo.root)
    assert [row.summary.ref for row in version_rows(view)] == ["churn@1", "churn@2"]
    assert indexed_keys(repo) == {"churn/v1.yaml", "churn/v2.yaml"}

    # an edited file (never done by mlopsctl) is read again: the files are the truth, not the index
    path = record_path(repo.root, "churn", 2)
    path.write_text(path.read_text().replace("run_id: run-1", "run_id: edited-by-hand"))
    assert version_rows(view)[1].summary.run_id == "edited-by-hand"

    # a vanished record drops out, a corrupt index is rebuilt
    path.unlink()
    assert [row.summary.ref for row in version_rows(view)] == ["churn@1"]
    assert indexed_keys(repo) == {"churn/v1.yaml"}
    (repo.state_dir / INDEX_NAME).write_bytes(b"not a database" * 100)
    assert [row.summary.ref for row in version_rows(view)] == ["churn@1"]
    assert indexed_keys(repo) == {"churn/v1.yaml"}


def test_listing_works_when_the_index_cannot_be_kept(repo: Repo) -> None:
    register_version(repo, make_draft())
    (repo.root / "not-a-folder").write_text("a file where the state folder should be\n")
    settings = repo.root / "mlops.yaml"
    settings.write_text(settings.read_text().replace("state_dir: .mlops", "state_dir: not-a-folder"))
    rows = version_rows(open_registry(repo.root))
    assert [row.summary.ref for row in rows] == ["churn@1"]
    assert (repo.root / "not-a-folder").read_text() == "a file where the state folder should be\n"
