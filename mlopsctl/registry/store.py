"""Registering model versions: artifact first, then an exclusive record file, then one git commit.

Registration order is what makes a crash harmless at any point:

1. the artifact goes into the content-addressed store (atomic write; the same bytes twice are one file);
2. ``registry/<model>/v<N>.yaml`` is *created exclusively*: written to a scratch file, fsynced, then
   hard-linked into place, so the name never shows a half-written record and two writers can never
   both take ``N`` (the loser retries with ``N+1``); an existing record is never opened for writing;
3. exactly that file is committed (``git commit -- <path>``) under a lock in the state folder, so
   concurrent registrations in one working tree take turns on ``.git/index.lock``.

Killed after 1, the store holds an orphan artifact (harmless, see ``artifacts``); killed after 2, a
complete record is on disk but not committed yet (or staged, when the kill fell between ``git add``
and ``git commit``); the commit itself is atomic, so history never holds a partial registration.
A record whose artifact is missing cannot happen. The cost does not grow with the number of
models: only the model's own folder is listed and only its new file is committed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlopsctl.contract.records import DataFingerprint, GateResult, Reference, Signature, VersionRecord
from mlopsctl.errors import CheckFailed, MlopsError, NotFound, UsageError
from mlopsctl.fsio import create_exclusive, fsync_dir, held_lock
from mlopsctl.ports.git import Git
from mlopsctl.registry.artifacts import ArtifactStore, safe_loads, short_digest
from mlopsctl.registry.records import read_record, record_path, registry_dir, version_numbers
from mlopsctl.registry.remote import RemoteArtifactStore, chosen_by_runner, remote_scheme
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import NAME_PATTERN
from mlopsctl.spec.yamlpos import safe_load
from mlopsctl.state_links import refuse_state_links

MAX_VERSION_ATTEMPTS = 10_000
GIT_LOCK_RETRY_SECONDS = 30.0
_DumperBase: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class VersionDraft:
    """Everything a version record holds except its number, time and artifact reference."""

    model: str
    run_id: str
    spec_commit: str
    spec_dirty: bool
    spec_sha256: str
    task: str
    estimator: str
    params: dict[str, Any]
    metrics: dict[str, float]
    gates: list[GateResult]
    gates_passed: bool
    data: DataFingerprint
    environment: dict[str, Any]
    signature: Signature
    reference: Reference
    artifact: bytes
    """The skops bytes of the fitted pipeline."""


@dataclass(frozen=True)
class Registration:
    """What a registration produced: the record, its file, and the commit (None when not committed)."""

    record: VersionRecord
    path: Path
    commit: str | None


def artifact_store_for(repo: Repo) -> ArtifactStore:
    """The repo's artifact store: ``artifact_store`` from mlops.yaml or ``MLOPS_ARTIFACT_STORE`` (a folder,
    a file:// URI, or a remote oci:// or s3:// store behind the state folder's cache), else the state folder."""
    configured = repo.settings.artifact_store or ""
    if remote_scheme(configured):
        return RemoteArtifactStore(
            repo.artifact_dir,
            configured,
            repo_root=repo.root,
            chosen_by_runner=chosen_by_runner(configured),
        )
    scheme = configured.split("://", 1)[0] if "://" in configured else ""
    if scheme and scheme != "file":
        raise UsageError(
            f"artifact_store '{configured}' in {repo.root / 'mlops.yaml'} uses the unsupported scheme {scheme}://",
            hint="use oci://HOST/NAMESPACE, s3://BUCKET/PREFIX, a folder (a shared mount) or a file:// URI",
        )
    return ArtifactStore(repo.artifact_dir, repo_root=repo.root)


def register_version(repo: Repo, draft: VersionDraft, *, commit: bool = True) -> VersionRecord:
    """Store the artifact, create the next ``registry/<model>/v<N>.yaml`` and commit it."""
    return register(repo, draft, commit=commit).record


def register(repo: Repo, draft: VersionDraft, *, commit: bool = True) -> Registration:
    """:func:`register_version`, also returning the record's path and the commit."""
    _check_model_name(draft.model)
    ref = artifact_store_for(repo).put(draft.artifact)
    fields = {name: getattr(draft, name) for name in VersionDraft.__dataclass_fields__ if name != "artifact"}
    record, path = _create_next_record(repo, fields, ref)
    sha = _commit_record(repo, record, path) if commit else None
    return Registration(record=record, path=path, commit=sha)


def latest_version(repo: Repo, model: str) -> int | None:
    """Highest registered version of ``model`` (from file names only), or None."""
    numbers = version_numbers(repo.root, model)
    return numbers[-1] if numbers else None


def load_version(repo: Repo, model: str, version: int | None) -> tuple[VersionRecord, Any]:
    """A version's record and its fitted pipeline (None = latest), after checking the artifact's digest."""
    record = read_record(repo.root, model, _resolve_version(repo, model, version))
    data = artifact_store_for(repo).get(record.artifact)  # checks size and sha256 before anything is parsed
    return record, safe_loads(data, record.artifact.sha256)


def list_versions(repo: Repo, model: str | None = None) -> list[VersionRecord]:
    """Full records of every version (of ``model``, or of every model), by model then version."""
    models = [model] if model is not None else registered_models(repo.root)
    return [
        _validated(record_path(repo.root, name, number))
        for name in models
        for number in version_numbers(repo.root, name)
    ]


def _validated(path: Path) -> VersionRecord:
    try:
        return VersionRecord.model_validate(parse_record_file(path))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(map(str, error["loc"])) or "(document)"
        raise _unreadable_record(path, f"{where}: {error['msg']}") from None


def registered_models(root: Path) -> list[str]:
    """Names of the folders under registry/ that hold at least one record name (sorted)."""
    base = root / "registry"
    if not base.is_dir():
        return []
    return sorted(entry.name for entry in os.scandir(base) if entry.is_dir() and version_numbers(root, entry.name))


def parse_record_file(path: Path) -> dict[str, Any]:
    """A record file as plain data, parsed with the C YAML loader when it is available."""
    try:
        data = safe_load(path.read_bytes().decode("utf-8"), path)  # bounded; libyaml's speed for ordinary records
    except UnicodeDecodeError:
        raise _unreadable_record(path, "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise _unreadable_record(path, str(exc).replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise _unreadable_record(path, "not a mapping of fields")
    return data


def _unreadable_record(path: Path, reason: str) -> MlopsError:
    return CheckFailed(
        f"registry record {path} is unreadable: {reason}",
        title="Unreadable record",
        hint="records are never edited; restore it with: git checkout -- " + str(path),
    )


def record_yaml(record: VersionRecord) -> str:
    """The record's file text: a comment header, then the fields in schema order."""
    header = (
        f"# {record.ref}: a model version registered by mlopsctl. Immutable: never edit this file.\n"
        f"# Artifact sha256:{record.artifact.sha256} ({record.artifact.size} bytes). "
        f"Details: mlopsctl registry show {record.ref}\n"
    )
    body = yaml.dump(
        record.model_dump(mode="json"),
        Dumper=_RecordDumper,
        sort_keys=False,
        allow_unicode=True,
        width=1000,
    )
    return header + body


def commit_message(record: VersionRecord) -> str:
    metrics = " ".join(f"{name}={value:.4g}" for name, value in record.metrics.items())
    gates = "gates passed" if record.gates_passed else "gates FAILED"
    summary = "; ".join(part for part in (metrics, gates, f"estimator {record.estimator}") if part)
    trailers = [
        f"Model: {record.model}",
        f"Version: {record.version}",
        f"Run: {record.run_id}",
        f"Artifact: sha256:{record.artifact.sha256}",
    ]
    return f"Register {record.ref}\n\n{summary}\n\n" + "\n".join(trailers) + "\n"


@contextlib.contextmanager
def git_lock(repo: Repo) -> Iterator[None]:
    """An exclusive lock (flock, released by the kernel if the holder dies) around git writes."""
    with held_lock(refuse_state_links(repo.root, repo.state_dir / "locks" / "git.lock")):
        yield


# --------------------------------------------------------------------------- internals


class _RecordDumper(_DumperBase):  # type: ignore[misc]
    """Lists of plain values (bin edges, shares, categories) on one line: smaller files, faster reads."""


def _represent_list(dumper: Any, data: list[Any]) -> Any:
    flat = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat and bool(data))


_RecordDumper.add_representer(list, _represent_list)


def _check_model_name(model: str) -> None:
    if not re.fullmatch(NAME_PATTERN, model):
        raise UsageError(
            f"'{model}' is not a valid model name",
            hint="use lower-case letters, digits and dashes, starting with a letter",
        )


def _resolve_version(repo: Repo, model: str, version: int | None) -> int:
    if version is not None:
        return version
    latest = latest_version(repo, model)
    if latest is None:
        raise NotFound(
            f"{model} has no registered versions in {registry_dir(repo.root, model)}",
            hint=f"train and register one with: mlopsctl train {model}",
        )
    return latest


def _create_next_record(repo: Repo, fields: dict[str, Any], ref: Any) -> tuple[VersionRecord, Path]:
    """Take the next free version number by creating its file exclusively; retry above a taken one."""
    model = fields["model"]
    scratch = refuse_state_links(repo.root, repo.state_dir / "tmp")
    number = (latest_version(repo, model) or 0) + 1
    for _ in range(MAX_VERSION_ATTEMPTS):
        record = VersionRecord(version=number, created_at=_now(), artifact=ref, **fields)
        path = record_path(repo.root, model, number)
        if _create_exclusive(path, record_yaml(record).encode("utf-8"), scratch):
            return record, path
        number = max(number + 1, (latest_version(repo, model) or 0) + 1)
    raise MlopsError(f"could not take a version number for {model} after {MAX_VERSION_ATTEMPTS} attempts")


def _create_exclusive(path: Path, data: bytes, scratch: Path) -> bool:
    """Like fsio.create_exclusive, but the temp file lives in the git-ignored state folder.

    A writer killed mid-write then leaves its temp file there, never beside the records where
    ``git add`` would pick it up.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".tmp", dir=scratch)
    except OSError:
        return create_exclusive(path, data)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):  # state folder on another device
                return create_exclusive(path, data)
            raise
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def _commit_record(repo: Repo, record: VersionRecord, path: Path) -> str:
    relative = path.relative_to(repo.root).as_posix()
    git = Git(repo.root)
    with git_lock(repo):
        deadline = time.monotonic() + GIT_LOCK_RETRY_SECONDS
        while True:
            try:
                return git.commit([relative], commit_message(record))
            except MlopsError as exc:
                if "index.lock" in exc.message and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise _not_committed(record, relative, exc) from exc


def _not_committed(record: VersionRecord, relative: str, exc: MlopsError) -> MlopsError:
    return MlopsError(
        f"{record.ref} was registered in {relative} but could not be committed: {exc.message}",
        title="Git error",
        hint=f"the record is complete and will not change; commit it with: git add {relative} && "
        f'git commit -m "Register {record.ref}" -- {relative}',
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "Registration",
    "VersionDraft",
    "artifact_store_for",
    "latest_version",
    "list_versions",
    "load_version",
    "register",
    "register_version",
    "short_digest",
]
