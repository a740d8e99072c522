"""Version record files: one immutable YAML file per registered model version.

The record's shape is :class:`mlopsctl.contract.records.VersionRecord`; reading the files is the
registry's job, done here. A record lives at ``registry/<model>/v<N>.yaml`` and is committed, so
every version is reviewable in a pull request and the git history is the registry's audit log.
Records are never rewritten; archiving a version adds ``registry/<model>/archived.yaml`` entries.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlopsctl.contract.records import VersionRecord
from mlopsctl.contract.versions import MAX_VERSION, is_version
from mlopsctl.errors import CheckFailed, NotFound
from mlopsctl.registry.packages import listed_pins, pin_problem
from mlopsctl.registry.paths import (
    RECORD_NAME,
    archive_path,
    record_path,
    refuse_links,
    registry_dir,
    version_numbers,
)
from mlopsctl.spec.yamlpos import LocatedDoc, load_yaml


def read_record(root: Path, model: str, version: int) -> VersionRecord:
    """The validated record of ``model@version``; a file that does not read or fit is a CheckFailed naming it."""
    path = record_path(root, model, version)
    if not path.is_file():
        known = version_numbers(root, model)
        hint = f"versions of {model}: {', '.join(map(str, known))}" if known else f"{model} has no versions yet"
        raise NotFound(f"no version {model}@{version} in {path.parent}", hint=hint)
    doc = load_yaml(path)
    record = record_from_doc(doc, restore=f"restore it with: git checkout -- {path}")
    _check_packages(doc, record)
    return record


def record_from_doc(doc: LocatedDoc, *, restore: str) -> VersionRecord:
    """The record in a parsed file; else a CheckFailed at file:line:column whose hint ends with ``restore``."""
    if doc.problems or not isinstance(doc.data, dict):
        reason = str(doc.problems[0]) if doc.problems else f"{doc.file}: not a mapping of fields"
        raise _invalid_record(reason, restore)
    try:
        return VersionRecord.model_validate(doc.data)
    except ValidationError as exc:
        raise _invalid_record(_first_error(doc, exc), restore) from None


def _check_packages(doc: LocatedDoc, record: VersionRecord) -> None:
    """Names and versions in ``environment.packages`` become pip requirements: refuse anything else."""
    packages = record.environment.get("packages")
    for index, (name, version) in enumerate(listed_pins(packages)):
        problem = pin_problem(name, version)
        if problem is not None:
            where = ("environment", "packages", name if isinstance(packages, dict) else index)
            raise _invalid_record(str(doc.problem(where, problem)), f"restore it with: git checkout -- {doc.file}")


def _first_error(doc: LocatedDoc, exc: ValidationError) -> str:
    """The first schema error as ``file:line:column: field: message (got ...)``."""
    error = exc.errors()[0]
    path = tuple(part for part in error["loc"] if isinstance(part, str | int))
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {str(got)[:40]!r})"
    return str(doc.problem(path, f"{error['msg']}{shown}"))


def _invalid_record(reason: str, restore: str) -> CheckFailed:
    return CheckFailed(
        f"registry record {reason}",
        title="Invalid record",
        hint=f"records are written by mlopsctl and never edited; {restore}",
    )


def archived_versions(root: Path, model: str) -> set[int]:
    """Version numbers listed in ``registry/<model>/archived.yaml``; a malformed list is a CheckFailed naming it."""
    if not os.path.lexists(os.path.join(root, "registry", model, "archived.yaml")):
        return set()  # the common case, without building paths
    path = archive_path(root, model)
    if not path.is_file():
        return set()
    return archived_from_doc(load_yaml(path), restore=f"restore it with: git checkout -- {path}")


def archived_from_doc(doc: LocatedDoc, *, restore: str) -> set[int]:
    """The version numbers in a parsed archive list; else a CheckFailed at file:line:column."""
    if doc.problems:
        raise _invalid_archive(str(doc.problems[0]), restore)
    entries = doc.data.get("archived", []) if isinstance(doc.data, dict) else None
    if not isinstance(entries, list):
        expected = doc.problem(("archived",), "expected a list of entries such as - version: 3")
        raise _invalid_archive(str(expected), restore)
    return {_archived_number(doc, index, entry, restore) for index, entry in enumerate(entries)}


def _archived_number(doc: LocatedDoc, index: int, entry: Any, restore: str) -> int:
    number = entry.get("version") if isinstance(entry, dict) else None
    if is_version(number):
        return number
    reason = doc.problem(("archived", index, "version"), f"expected a version number from 1 to {MAX_VERSION}")
    raise _invalid_archive(str(reason), restore)


def _invalid_archive(reason: str, restore: str) -> CheckFailed:
    return CheckFailed(
        f"archive list {reason}",
        title="Invalid archive list",
        hint=f"archived.yaml is written by mlopsctl archive; {restore}",
    )


__all__ = [
    "RECORD_NAME",
    "archived_from_doc",
    "archived_versions",
    "is_version",
    "read_record",
    "record_from_doc",
    "record_path",
    "refuse_links",
    "registry_dir",
    "version_numbers",
]
