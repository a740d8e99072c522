"""The regulator's bundle: one folder that holds everything a version came from, and its reproduction.

``mlopsctl archive MODEL@V --export DIR`` writes:

==========================  ===========================================================================
``spec/model.yaml``         the spec as committed at the record's ``spec_commit``
``record.yaml``             the version record, byte for byte as in ``registry/<model>/v<N>.yaml``
``artifact.skops``          the fitted pipeline (checked against the record's sha256 on the way out)
``data/<file name>``        the exact training data (the store's snapshot, or the file when it matches)
``environment.json``        Python, platform and the package versions the run recorded
``requirements.txt``        those packages pinned (``name==version``), the environment lock pip reads
``images.json``             the images pushed for the version, by digest (empty when none was pushed)
``manifest.json``           every file above with its sha256 and size
==========================  ===========================================================================

The folder is written under a temporary sibling name and renamed into place, so ``DIR`` either does
not exist or holds a complete bundle. ``mlopsctl reproduce --bundle DIR`` needs nothing else: it
checks every file against the manifest (a changed, missing or extra file is refused by name), checks
the artifact, data and spec against the digests in the record, trains again from the spec and data,
and compares metrics, artifact bytes and predictions with the record.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from mlopsctl.build.images import read_pushed
from mlopsctl.contract.records import VersionRecord
from mlopsctl.data.load import data_format, parse
from mlopsctl.errors import CheckFailed, NotFound, UsageError
from mlopsctl.fsio import fsync_dir
from mlopsctl.ports.git import Git
from mlopsctl.registry.artifacts import load_pipeline_bytes
from mlopsctl.registry.datapull import read_ref
from mlopsctl.registry.packages import listed_pins, pin_problem
from mlopsctl.registry.records import record_from_doc, record_path
from mlopsctl.registry.snapshots import copy_verified, file_sha256, snapshots_for
from mlopsctl.registry.store import artifact_store_for
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.yamlpos import load_yaml
from mlopsctl.train.fit import fit_and_evaluate
from mlopsctl.train.progress import ProgressFn, no_progress
from mlopsctl.train.reproduce import ReproduceResult, compare_with_record, recorded_data, spec_from_text

FORMAT = "mlopsctl-bundle/v1"
MANIFEST = "manifest.json"
SPEC = "spec/model.yaml"
RECORD = "record.yaml"
ARTIFACT = "artifact.skops"
ENVIRONMENT = "environment.json"
REQUIREMENTS = "requirements.txt"
IMAGES = "images.json"
REFUSED = "Bundle refused"
FOLDER_MODE = 0o755
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class BundleFile:
    path: str
    """Relative to the bundle folder, with / separators."""
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class ExportedBundle:
    """What ``archive --export`` wrote."""

    ref: str
    folder: Path
    files: list[BundleFile]
    images: list[str]
    """Pushed images of the version, ``reference@digest``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "folder": str(self.folder),
            "files": [item.to_dict() for item in self.files],
            "images": self.images,
        }


# --------------------------------------------------------------------------- export


def export_bundle(repo: Repo, ref: str, folder: Path) -> ExportedBundle:
    """Write ``ref``'s bundle into ``folder`` (which must not exist, or be empty), atomically."""
    folder = folder if folder.is_absolute() else Path.cwd() / folder
    _require_empty(folder)
    record = read_ref(repo, ref)
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        images = _write_contents(repo, record, scratch)
        files = _write_manifest(record, scratch)
        _move_into_place(scratch, folder)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return ExportedBundle(record.ref, folder, files, images)


def _require_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        return
    if folder.exists() or folder.is_symlink():
        raise UsageError(
            f"{folder} already exists and is not an empty folder",
            hint="export into a new folder (or an empty one); a bundle is never merged into other files",
        )


def _write_contents(repo: Repo, record: VersionRecord, scratch: Path) -> list[str]:
    _write(scratch / SPEC, _committed_spec(repo, record))
    _write(scratch / RECORD, record_path(repo.root, record.model, record.version).read_bytes())
    _write(scratch / ARTIFACT, artifact_store_for(repo).get(record.artifact))  # size and sha256 checked
    copy_verified(_data_source(repo, record), scratch / data_member(record), record.data.sha256)
    _write(scratch / ENVIRONMENT, _json(record.environment))
    _write(scratch / REQUIREMENTS, _requirements(record).encode("utf-8"))
    images = [
        {"reference": entry.reference, "digest": entry.digest, "pushed_at": entry.built_at}
        for entry in read_pushed(repo.root, record.model)
        if entry.version == record.version and entry.digest
    ]
    _write(scratch / IMAGES, _json({"images": images}))
    return [f"{image['reference']}@{image['digest']}" for image in images]


def _committed_spec(repo: Repo, record: VersionRecord) -> bytes:
    relative = f"models/{record.model}/model.yaml"
    committed = Git(repo.root).show_bytes(record.spec_commit, relative)
    if committed is None:
        raise CheckFailed(
            f"cannot read {relative} at commit {record.spec_commit[:12]}, which {record.ref} was trained from",
            title="Cannot export",
            hint="fetch the commit (git fetch) or restore the history it was made in",
        )
    return committed


def _data_source(repo: Repo, record: VersionRecord) -> Path:
    """The store's snapshot of the data; a version from before snapshots falls back to the file when it matches."""
    snapshots = snapshots_for(repo)
    try:
        return snapshots.fetch(record.data.sha256, what=f"{record.ref}'s data")
    except NotFound:
        path = recorded_data(repo, record)
        if path.is_file() and file_sha256(path) == record.data.sha256:
            return path
        raise


def data_member(record: VersionRecord) -> str:
    """``data/<the data file's name>``: the suffix says the format; anything odd in the name is replaced."""
    name = _SAFE_NAME.sub("_", PurePosixPath(record.data.uri.replace("\\", "/")).name).lstrip(".")
    return f"data/{name or 'data'}"


def _requirements(record: VersionRecord) -> str:
    pins = [
        f"{name}=={version}"
        for name, version in listed_pins(record.environment.get("packages"))
        if version is not None and pin_problem(name, version) is None
    ]
    header = f"# The packages {record.ref} was trained with (from its record's environment).\n"
    return header + "".join(f"{pin}\n" for pin in sorted(pins))


def _write_manifest(record: VersionRecord, scratch: Path) -> list[BundleFile]:
    files = [_describe(scratch, path) for path in sorted(scratch.rglob("*")) if path.is_file()]
    manifest = {
        "format": FORMAT,
        "ref": record.ref,
        "spec_commit": record.spec_commit,
        "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": [item.to_dict() for item in files],
    }
    _write(scratch / MANIFEST, _json(manifest))
    return files


def _describe(root: Path, path: Path) -> BundleFile:
    return BundleFile(path.relative_to(root).as_posix(), file_sha256(path), path.stat().st_size)


def _move_into_place(scratch: Path, folder: Path) -> None:
    scratch.chmod(FOLDER_MODE)  # mkdtemp's 0700 would keep the bundle from whoever it is exported for
    for directory in [scratch, *(path for path in scratch.rglob("*") if path.is_dir())]:
        fsync_dir(directory)
    try:
        os.rename(scratch, folder)  # replaces an empty folder; refuses one that filled up meanwhile
    except OSError as exc:
        raise UsageError(
            f"{folder} could not take the bundle: {exc.strerror}",
            hint="export into a new folder (or an empty one)",
        ) from None
    fsync_dir(folder.parent)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- reproduce --bundle


def reproduce_bundle(folder: Path, *, progress: ProgressFn = no_progress) -> ReproduceResult:
    """Check ``folder`` against its manifest and the record, train again from it alone, and compare."""
    started = time.perf_counter()
    files = verify_bundle(folder)
    record = record_from_doc(load_yaml(folder / RECORD), restore="export the bundle again")
    _require_named_digest(folder, files, ARTIFACT, record.artifact.sha256, "the record's artifact.sha256")
    member = _data_file(folder, files)
    _require_named_digest(folder, files, member, record.data.sha256, "the record's data.sha256")
    spec = _bundle_spec(folder, files, record)
    progress("Loading data", 0, None)
    raw = (folder / member).read_bytes()
    frame = parse(raw, data_format(spec, Path(member), member), spec.data.columns, member)
    fitted = fit_and_evaluate(
        spec, frame, source=record.data.uri, params=record.params, latency=False, progress=progress
    )
    registered = load_pipeline_bytes((folder / ARTIFACT).read_bytes(), record.artifact.sha256)
    result = compare_with_record(record, "", fitted, registered, time.perf_counter() - started)
    result.bundle = str(folder)
    return result


def verify_bundle(folder: Path) -> dict[str, BundleFile]:
    """Every file the manifest lists, checked (size and sha256); a changed, missing or unlisted file is refused."""
    listed = _manifest_files(folder)
    for item in listed.values():
        _check_file(folder, item)
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if (path.is_file() or path.is_symlink()) and relative != MANIFEST and relative not in listed:
            raise _refused(folder, f"{relative} is not listed in {MANIFEST}")
    for required in (SPEC, RECORD, ARTIFACT):
        if required not in listed:
            raise _refused(folder, f"{MANIFEST} does not list {required}")
    return listed


def _manifest_files(folder: Path) -> dict[str, BundleFile]:
    if not folder.is_dir():
        raise NotFound(f"no bundle folder at {folder}", hint="export one with: mlopsctl archive MODEL@V --export DIR")
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
        files = {
            str(item["path"]): BundleFile(str(item["path"]), str(item["sha256"]), int(item["size"]))
            for item in manifest["files"]
        }
    except FileNotFoundError:
        raise _refused(folder, f"it has no {MANIFEST}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise _refused(folder, f"{MANIFEST} is not a bundle manifest ({type(exc).__name__})") from None
    if manifest.get("format") != FORMAT:
        raise _refused(folder, f"{MANIFEST} is not an {FORMAT} manifest")
    return files


def _check_file(folder: Path, item: BundleFile) -> None:
    parts = PurePosixPath(item.path).parts
    if not parts or item.path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise _refused(folder, f"{MANIFEST} lists {item.path!r}, which is not a path inside the bundle")
    path = folder.joinpath(*parts)
    if path.is_symlink() or not path.is_file():
        raise _refused(folder, f"{item.path} is missing (or not a plain file)")
    size, sha256 = path.stat().st_size, file_sha256(path)
    if (size, sha256) != (item.size, item.sha256):
        raise _refused(
            folder,
            f"{item.path} does not match {MANIFEST}: sha256 {sha256[:12]} ({size} bytes), "
            f"the manifest says {item.sha256[:12]} ({item.size} bytes)",
        )


def _data_file(folder: Path, files: dict[str, BundleFile]) -> str:
    data = [path for path in files if path.startswith("data/")]
    if len(data) != 1:
        raise _refused(folder, f"{MANIFEST} must list exactly one data/ file, it lists {len(data)}")
    return data[0]


def _require_named_digest(folder: Path, files: dict[str, BundleFile], member: str, expected: str, what: str) -> None:
    if files[member].sha256 != expected:
        raise _refused(
            folder,
            f"{member} is not the file {RECORD} names: sha256 {files[member].sha256[:12]}, {what} is {expected[:12]}",
        )


def _bundle_spec(folder: Path, files: dict[str, BundleFile], record: VersionRecord) -> Any:
    if record.spec_dirty:
        raise CheckFailed(
            f"{record.ref} was trained from a spec that differs from commit {record.spec_commit[:12]}; that spec "
            "was not kept, so the bundle cannot be reproduced",
            title="Not reproducible",
        )
    _require_named_digest(folder, files, SPEC, record.spec_sha256, "the record's spec_sha256")
    text = (folder / SPEC).read_bytes().decode("utf-8")
    return spec_from_text(text, f"{folder.name}/{SPEC}", record.params)


def _refused(folder: Path, reason: str) -> CheckFailed:
    return CheckFailed(
        f"the bundle {folder}: {reason}",
        title=REFUSED,
        hint="the bundle was changed after it was exported; export it again: mlopsctl archive MODEL@V --export DIR",
    )


__all__ = ["BundleFile", "ExportedBundle", "export_bundle", "reproduce_bundle", "verify_bundle"]
