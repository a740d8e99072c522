"""Data versions that travel (issue 14), with the local artifact store: train stores the exact data file
content-addressed beside the artifacts, ``data pull`` puts it back, ``reproduce`` uses it when the file
is missing or changed, an identical file is stored once, and a file over ``data_snapshot_max_bytes``
stops train before anything is fitted or registered.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.registry.records import read_record, record_path
from tests.support.train_repo import commit_all, git, sk_repo, train_json

__all__ = ["sk_repo"]
SMALL = ("--set", "training.params.n_estimators=10")


def snapshot_files(root: Path) -> list[Path]:
    return sorted(path for path in (root / ".mlops" / "artifacts" / "data").rglob("*") if path.is_file())


def set_project(root: Path, **settings: Any) -> None:
    project = root / "mlops.yaml"
    data = yaml.safe_load(project.read_text())
    data.update(settings)
    project.write_text(yaml.safe_dump(data, sort_keys=False))
    commit_all(root, "project settings")


def test_train_stores_the_data_and_data_pull_puts_it_back(cli: Any, sk_repo: Path, tmp_path: Path) -> None:
    data = sk_repo / "data" / "cancer.csv"
    original = data.read_bytes()
    sha256 = hashlib.sha256(original).hexdigest()
    trained = train_json(cli, sk_repo, "cancer", *SMALL)
    assert trained["data_snapshot"] == {
        "sha256": sha256,
        "size": len(original),
        "store": ".mlops/artifacts",
        "new": True,
        "uploaded": False,
    }
    assert [path.name for path in snapshot_files(sk_repo)] == [sha256]

    data.unlink()
    pulled = cli("--repo", str(sk_repo), "data", "pull", "cancer@1")
    assert pulled.code == 0, pulled.stderr
    assert pulled.stdout == (
        f"Wrote data/cancer.csv: cancer@1's data, {len(original):,} bytes, sha256 {sha256[:12]}, from .mlops/artifacts\n"
    )
    assert data.read_bytes() == original
    assert git(sk_repo, "status", "--porcelain") == ""

    again = cli("--repo", str(sk_repo), "data", "pull", "cancer@1")
    assert (again.code, again.stdout) == (
        0,
        f"data/cancer.csv already holds cancer@1's data (sha256 {sha256[:12]}); nothing to do\n",
    )

    elsewhere = tmp_path / "copy" / "cancer.csv"
    moved = cli("--repo", str(sk_repo), "data", "pull", "cancer@1", "--to", str(elsewhere), "-o", "json")
    assert moved.code == 0, moved.stderr
    assert json.loads(moved.stdout)["written"] is True
    assert elsewhere.read_bytes() == original


def test_reproduce_uses_the_snapshot_when_the_data_is_missing_or_changed(cli: Any, sk_repo: Path) -> None:
    train_json(cli, sk_repo, "cancer", *SMALL)
    record = read_record(sk_repo, "cancer", 1)
    assert record.data.stored  # the record says the data travels with it
    data = sk_repo / "data" / "cancer.csv"
    data.unlink()
    result = cli("--repo", str(sk_repo), "reproduce", "cancer@1")
    assert result.code == 0, result.stderr
    assert (
        f"  data:        'data/cancer.csv' is missing here; used the snapshot sha256:{record.data.sha256[:12]} "
        "from .mlops/artifacts\n"
    ) in result.stdout
    assert "Metrics match." in result.stdout
    assert f"artifact:    identical bytes (sha256 {record.artifact.sha256[:12]})" in result.stdout
    assert not data.exists()  # reproduce reads the snapshot; data pull is what writes the file

    data.write_text("mean_radius,benign\n1.0,0\n")
    changed = hashlib.sha256(data.read_bytes()).hexdigest()
    payload = json.loads(cli("--repo", str(sk_repo), "reproduce", "cancer@1", "-o", "json").stdout)
    assert payload["data_note"] == (
        f"'data/cancer.csv' here holds other data (sha256 {changed[:12]}); "
        f"used the snapshot sha256:{record.data.sha256[:12]} from .mlops/artifacts"
    )
    assert payload["metrics_match"] is True
    assert payload["artifact"]["matches"] is True


def test_the_same_data_is_stored_once(cli: Any, sk_repo: Path) -> None:
    first = train_json(cli, sk_repo, "cancer", *SMALL)
    stored = snapshot_files(sk_repo)
    before = stored[0].stat()
    second = train_json(cli, sk_repo, "cancer", "--set", "training.params.n_estimators=12")
    assert (first["version"], second["version"]) == (1, 2)
    assert first["data_snapshot"]["new"] is True
    assert second["data_snapshot"]["new"] is False
    assert snapshot_files(sk_repo) == stored
    after = stored[0].stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not copied again


def test_data_over_the_limit_stops_train_before_fitting(cli: Any, sk_repo: Path) -> None:
    set_project(sk_repo, data_snapshot_max_bytes=1000)
    size = (sk_repo / "data" / "cancer.csv").stat().st_size
    result = cli("--repo", str(sk_repo), "train", "cancer", *SMALL)
    assert result.code == 1
    assert result.stderr == (
        f"error: Data too large to store: data/cancer.csv is {size:,} bytes, over data_snapshot_max_bytes "
        "(1,000 bytes) in mlops.yaml: train stores the exact data file so that reproduce and data pull work on any "
        "machine\n"
        "hint: raise data_snapshot_max_bytes in mlops.yaml, or set it to 0 to train without storing the data "
        "(reproduce then needs the file itself)\n"
    )
    assert not (sk_repo / "registry" / "cancer").exists()
    assert snapshot_files(sk_repo) == []
    runs = json.loads(cli("--repo", str(sk_repo), "runs", "list", "cancer", "-o", "json").stdout)
    assert [run["status"] for run in runs["runs"]] == ["FAILED"]


def test_without_snapshots_data_pull_says_the_store_lacks_it(cli: Any, sk_repo: Path) -> None:
    set_project(sk_repo, data_snapshot_max_bytes=0)
    trained = train_json(cli, sk_repo, "cancer", *SMALL)
    assert trained["version"] == 1
    assert trained["data_snapshot"] is None
    assert read_record(sk_repo, "cancer", 1).data.stored is False
    sha256 = read_record(sk_repo, "cancer", 1).data.sha256
    (sk_repo / "data" / "cancer.csv").unlink()
    result = cli("--repo", str(sk_repo), "data", "pull", "cancer@1")
    assert result.code == 1
    assert result.stderr == (
        f"error: Not found: the artifact store .mlops/artifacts holds no snapshot of cancer@1's data "
        f"(sha256:{sha256[:12]})\n"
        "hint: it was trained before data snapshots, with data_snapshot_max_bytes: 0, or with another store (set "
        "MLOPS_ARTIFACT_STORE to it); or restore the file from where it came from\n"
    )
    reproduced = cli("--repo", str(sk_repo), "reproduce", "cancer@1")
    assert reproduced.code == 1
    assert reproduced.stderr.startswith(
        "error: Not found: 'data/cancer.csv' is missing here, and the artifact store .mlops/artifacts holds no "
        f"snapshot of cancer@1's data (sha256:{sha256[:12]})\n"
    )


def test_data_pull_refuses_unknown_versions_and_paths_outside_the_repository(cli: Any, sk_repo: Path) -> None:
    unknown = cli("--repo", str(sk_repo), "data", "pull", "cancer@3")
    assert unknown.code == 1
    assert "no version cancer@3" in unknown.stderr
    train_json(cli, sk_repo, "cancer", *SMALL)
    path = record_path(sk_repo, "cancer", 1)
    for uri in ("../outside.csv", ".git/hooks/pre-commit"):
        path.chmod(0o644)
        record = yaml.safe_load(path.read_text())
        record["data"]["uri"] = uri
        path.write_text(yaml.safe_dump(record, sort_keys=False))
        refused = cli("--repo", str(sk_repo), "data", "pull", "cancer@1")
        assert refused.code == 1, refused.stderr
        where = "is outside the repository" if uri.startswith("..") else "is inside .git or the state folder"
        assert refused.stderr == (
            f"error: Data outside the repository: registry/cancer/v1.yaml: data.uri '{uri}' {where}; "
            "data pull writes only data files inside the repository\n"
            "hint: write it elsewhere with: mlopsctl data pull cancer@1 --to PATH\n"
        )
    assert not (sk_repo.parent / "outside.csv").exists()
    assert not (sk_repo / ".git" / "hooks" / "pre-commit").exists()


def test_a_damaged_snapshot_is_refused(cli: Any, sk_repo: Path) -> None:
    train_json(cli, sk_repo, "cancer", *SMALL)
    sha256 = read_record(sk_repo, "cancer", 1).data.sha256
    [stored] = snapshot_files(sk_repo)
    stored.write_bytes(b"mean_radius,benign\n1.0,0\n")
    damaged = hashlib.sha256(stored.read_bytes()).hexdigest()
    (sk_repo / "data" / "cancer.csv").unlink()
    result = cli("--repo", str(sk_repo), "data", "pull", "cancer@1")
    assert result.code == 1
    assert result.stderr == (
        f"error: Data snapshot refused: the snapshot of cancer@1's data in .mlops/artifacts is damaged: its sha256 "
        f"is {damaged}, not {sha256}\n"
        "hint: it was not used; restore it from a copy of the store, or the file from where it came from\n"
    )
    assert not (sk_repo / "data" / "cancer.csv").exists()


def test_data_that_cannot_be_stored_registers_nothing(cli: Any, sk_repo: Path) -> None:
    blocked = sk_repo / ".mlops" / "artifacts" / "data"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a folder\n")  # the snapshot's folder cannot be made
    result = cli("--repo", str(sk_repo), "train", "cancer", *SMALL)
    assert result.code == 1
    assert result.stderr.startswith("error: Data not stored: cannot store the data snapshot in .mlops/artifacts: ")
    assert result.stderr.endswith(
        "hint: nothing was registered; check that folder, or set data_snapshot_max_bytes: 0 in mlops.yaml to train "
        "without storing the data\n"
    )
    assert not (sk_repo / "registry" / "cancer").exists()
    assert not list((sk_repo / ".mlops" / "artifacts").glob("sha256/*/*.skops"))  # no artifact either
