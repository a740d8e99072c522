"""The regulator's bundle (issue 14): ``archive MODEL@V --export DIR`` writes everything a version came
from with a manifest of sha256s; ``reproduce --bundle DIR`` trains it again from the bundle alone, in a
folder that is no repository, and refuses a bundle whose files were changed, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.registry.records import read_record, record_path
from tests.conftest import run_cli_process
from tests.support.train_repo import commit_all, git, sk_repo, train_json

__all__ = ["sk_repo"]
DIGEST = "sha256:" + "ab" * 32
FILES = [
    "artifact.skops",
    "data/cancer.csv",
    "environment.json",
    "images.json",
    "record.yaml",
    "requirements.txt",
    "spec/model.yaml",
]


def export(cli: Any, root: Path, folder: Path, *args: str) -> Any:
    return cli("--repo", str(root), "archive", "cancer@1", "--export", str(folder), *args)


def trained_and_exported(cli: Any, root: Path, folder: Path) -> None:
    train_json(cli, root, "cancer", "--set", "training.params.n_estimators=10")
    (root / "registry" / "cancer" / "images.yaml").write_text(
        yaml.safe_dump(
            {
                "images": [
                    {
                        "model": "cancer",
                        "version": 1,
                        "reference": "registry.example/demo/cancer:v1",
                        "image_id": "sha256:" + "cd" * 32,
                        "digest": DIGEST,
                        "built_at": "2026-01-02T03:04:05Z",
                        "pushed": True,
                    }
                ]
            }
        )
    )
    commit_all(root, "cancer@1 pushed")
    result = export(cli, root, folder)
    assert result.code == 0, result.stderr


def test_export_writes_every_file_with_its_digest_and_reproduces_from_the_bundle_alone(
    cli: Any, sk_repo: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "audit" / "cancer-1"
    trained_and_exported(cli, sk_repo, folder)
    record = read_record(sk_repo, "cancer", 1)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "mlopsctl-bundle/v1"
    assert (manifest["ref"], manifest["spec_commit"]) == ("cancer@1", record.spec_commit)
    assert [item["path"] for item in manifest["files"]] == FILES
    for item in manifest["files"]:
        data = (folder / item["path"]).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (item["sha256"], item["size"])
    assert (folder / "record.yaml").read_bytes() == record_path(sk_repo, "cancer", 1).read_bytes()
    assert (folder / "spec" / "model.yaml").read_bytes() == git(
        sk_repo, "show", f"{record.spec_commit}:models/cancer/model.yaml"
    ).encode() + b"\n"
    assert (folder / "data" / "cancer.csv").read_bytes() == (sk_repo / "data" / "cancer.csv").read_bytes()
    assert hashlib.sha256((folder / "artifact.skops").read_bytes()).hexdigest() == record.artifact.sha256
    assert json.loads((folder / "images.json").read_text())["images"] == [
        {"reference": "registry.example/demo/cancer:v1", "digest": DIGEST, "pushed_at": "2026-01-02T03:04:05Z"}
    ]
    assert json.loads((folder / "environment.json").read_text()) == record.environment
    assert (
        f"scikit-learn=={record.environment['packages']['scikit-learn']}\n" in (folder / "requirements.txt").read_text()
    )
    assert not [path for path in folder.parent.iterdir() if path != folder]  # no temp folder left beside it

    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    moved = fresh / "bundle"
    shutil.copytree(folder, moved)
    result = run_cli_process("reproduce", "--bundle", str(moved), cwd=fresh)
    assert result.code == 0, result.stdout + result.stderr
    assert (
        f"Reproduced cancer@1 from the bundle {moved} (spec commit {record.spec_commit[:12]}; every file"
        in result.stdout
    )
    assert "Metrics match." in result.stdout
    assert f"artifact:    identical bytes (sha256 {record.artifact.sha256[:12]})" in result.stdout
    assert "predictions: identical on 143 held-out rows" in result.stdout
    assert sorted(path.name for path in fresh.iterdir()) == ["bundle"]  # no repository, no state folder made


def test_export_refuses_a_folder_that_is_not_empty(cli: Any, sk_repo: Path, tmp_path: Path) -> None:
    train_json(cli, sk_repo, "cancer", "--set", "training.params.n_estimators=10")
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    result = export(cli, sk_repo, folder)
    assert result.code == 2
    assert result.stderr == (
        f"error: Usage error: {folder} already exists and is not an empty folder\n"
        "hint: export into a new folder (or an empty one); a bundle is never merged into other files\n"
    )
    assert sorted(path.name for path in folder.iterdir()) == ["notes.txt"]
    mixed = export(cli, sk_repo, tmp_path / "new", "--direct")
    assert mixed.code == 2
    assert "--export writes a bundle and archives nothing" in mixed.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(cli, sk_repo, empty).code == 0
    assert (empty / "manifest.json").is_file()


def test_a_tampered_bundle_is_refused_naming_the_file(cli: Any, sk_repo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    trained_and_exported(cli, sk_repo, folder)
    hint = (
        "hint: the bundle was changed after it was exported; export it again: mlopsctl archive MODEL@V --export DIR\n"
    )

    data = folder / "data" / "cancer.csv"
    original = data.read_bytes()
    data.write_bytes(original.replace(b"\n1", b"\n0", 1))
    refused = run_cli_process("reproduce", "--bundle", str(folder), cwd=tmp_path)
    before = hashlib.sha256(original).hexdigest()
    after = hashlib.sha256(data.read_bytes()).hexdigest()
    assert refused.code == 1
    assert refused.stderr == (
        f"error: Bundle refused: the bundle {folder}: data/cancer.csv does not match manifest.json: sha256 "
        f"{after[:12]} ({len(original)} bytes), the manifest says {before[:12]} ({len(original)} bytes)\n" + hint
    )
    data.write_bytes(original)

    (folder / "extra.py").write_text("print('hi')\n")
    extra = run_cli_process("reproduce", "--bundle", str(folder), cwd=tmp_path)
    assert (extra.code, extra.stderr) == (
        1,
        f"error: Bundle refused: the bundle {folder}: extra.py is not listed in manifest.json\n" + hint,
    )
    (folder / "extra.py").unlink()

    # A manifest rewritten to match a swapped data file still fails: the record names the data's digest
    manifest = json.loads((folder / "manifest.json").read_text())
    data.write_bytes(original.replace(b"\n1", b"\n0", 1))
    for item in manifest["files"]:
        if item["path"] == "data/cancer.csv":
            item["sha256"] = after
    (folder / "manifest.json").write_text(json.dumps(manifest))
    swapped = run_cli_process("reproduce", "--bundle", str(folder), cwd=tmp_path)
    recorded = read_record(sk_repo, "cancer", 1).data.sha256
    assert (swapped.code, swapped.stderr) == (
        1,
        f"error: Bundle refused: the bundle {folder}: data/cancer.csv is not the file record.yaml names: sha256 "
        f"{after[:12]}, the record's data.sha256 is {recorded[:12]}\n" + hint,
    )
