"""Version records: one immutable YAML file per registered model version.

A record lives at ``registry/<model>/v<N>.yaml`` and is committed, so every version is reviewable
in a pull request and the git history is the registry's audit log. Records are never rewritten;
archiving a version adds ``registry/<model>/archived.yaml`` entries instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlopsctl.errors import CheckFailed, NotFound, UsageError
from mlopsctl.registry.packages import listed_pins, pin_problem
from mlopsctl.registry.paths import (
    MAX_VERSION,
    RECORD_NAME,
    VERSION_TEXT,
    archive_path,
    record_path,
    refuse_links,
    registry_dir,
)
from mlopsctl.spec.yamlpos import LocatedDoc, load_yaml

REF_PATTERN = re.compile(rf"^(?P<model>[a-z][a-z0-9-]{{0,62}})@v?(?P<version>{VERSION_TEXT}|latest)$")
MAX_REF_SHOWN = 80


class Record(BaseModel):
    """Base of registry files: unknown keys are kept, so newer writers do not break older readers."""

    model_config = ConfigDict(extra="allow")


class GateResult(Record):
    gate: str
    """The gate as written in the spec, e.g. roc_auc >= 0.85."""
    value: float | None
    """The measured value, or empty when the metric was not measured."""
    passed: bool
    """Whether the gate held."""


class DataFingerprint(Record):
    uri: str
    """Where the data was read from, relative to the repo root when inside it."""
    sha256: str
    """Content hash of the file's bytes."""
    rows: int
    """Number of rows."""
    columns: int
    """Number of columns."""
    schema_sha256: str
    """Hash of the column names and types."""


class ArtifactRef(Record):
    uri: str
    """Location of the artifact in the artifact store."""
    sha256: str
    """Digest checked before the artifact is ever loaded."""
    size: int
    """Size in bytes."""
    format: str = "skops"
    """Serialisation format."""


class InputColumn(Record):
    name: str
    """Column name as requests must send it."""
    type: str
    """Declared type: integer, float, category, string, datetime or boolean."""
    nullable: bool = False
    """Whether a missing value (null/NaN) is accepted."""
    categories: list[str] | None = None
    """For categorical features, the categories seen in training (others are still accepted)."""


class Signature(Record):
    """What the prediction service accepts and returns."""

    inputs: list[InputColumn]
    """Feature columns, in the order the pipeline expects them."""
    task: str
    """classification or regression."""
    target: str
    """Name of the label column (the prediction's name)."""
    classes: list[Any] | None = None
    """Class labels in predict_proba column order (classification)."""


class BinnedReference(Record):
    """Training distribution of one feature (or of the predictions), for drift.

    numeric: ``edges`` are the interior bin edges (training quantiles, deduplicated); bin ``i``
    holds ``edges[i-1] < x <= edges[i]``, with open ends, so there are ``len(edges) + 1`` bins.
    categorical: ``categories`` name the bins, plus a last ``__other__`` bin for unseen values.
    ``shares`` sum to 1 over the bins and exclude missing values, whose share is ``missing_share``.
    """

    kind: str
    """numeric or categorical."""
    edges: list[float] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    shares: list[float]
    missing_share: float = 0.0
    count: int = 0
    """Observations the shares were computed from."""


class Reference(Record):
    features: dict[str, BinnedReference] = Field(default_factory=dict)
    prediction: BinnedReference | None = None


class VersionRecord(Record):
    """registry/<model>/v<N>.yaml"""

    apiVersion: str = "mlopsctl/v1"
    kind: str = "ModelVersion"
    model: str
    version: int = Field(ge=1, le=MAX_VERSION)
    created_at: str
    run_id: str
    spec_commit: str
    spec_dirty: bool = False
    spec_sha256: str
    task: str
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    gates: list[GateResult] = Field(default_factory=list)
    gates_passed: bool
    data: DataFingerprint
    environment: dict[str, Any] = Field(default_factory=dict)
    artifact: ArtifactRef
    signature: Signature
    """Inputs and outputs of the prediction service."""
    reference: Reference = Field(default_factory=Reference)
    """Training-data distributions (bins and shares per feature, and of predictions) for drift."""

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


def parse_ref(text: str) -> tuple[str, int | None]:
    """``churn@3`` / ``churn@v3`` -> ("churn", 3); ``churn@latest`` -> ("churn", None)."""
    match = REF_PATTERN.fullmatch(text.strip())
    if match is None:
        shown = text if len(text) <= MAX_REF_SHOWN else text[: MAX_REF_SHOWN - 3] + "..."
        raise UsageError(
            f"'{shown}' is not a model version reference",
            hint="write MODEL@VERSION, e.g. churn@3, churn@v3 or churn@latest",
        )
    version = match["version"]
    return match["model"], None if version == "latest" else int(version)


def version_numbers(root: Path, model: str) -> list[int]:
    """Registered version numbers of ``model``, ascending, read from file names only (fast)."""
    folder = registry_dir(root, model)
    if not folder.is_dir():
        return []
    found = (RECORD_NAME.match(entry.name) for entry in folder.iterdir())
    return sorted(int(match[1]) for match in found if match)


def read_record(root: Path, model: str, version: int) -> VersionRecord:
    """The validated record of ``model@version``; a file that does not read or fit is a CheckFailed naming it."""
    path = record_path(root, model, version)
    if not path.is_file():
        known = version_numbers(root, model)
        hint = f"versions of {model}: {', '.join(map(str, known))}" if known else f"{model} has no versions yet"
        raise NotFound(f"no version {model}@{version} in {path.parent}", hint=hint)
    doc = load_yaml(path)
    if doc.problems or not isinstance(doc.data, dict):
        reason = str(doc.problems[0]) if doc.problems else f"{path}: not a mapping of fields"
        raise _invalid_record(path, reason)
    try:
        record = VersionRecord.model_validate(doc.data)
    except ValidationError as exc:
        raise _invalid_record(path, _first_error(doc, exc)) from None
    _check_packages(doc, record)
    return record


def _check_packages(doc: LocatedDoc, record: VersionRecord) -> None:
    """Names and versions in ``environment.packages`` become pip requirements: refuse anything else."""
    packages = record.environment.get("packages")
    for index, (name, version) in enumerate(listed_pins(packages)):
        problem = pin_problem(name, version)
        if problem is not None:
            where = ("environment", "packages", name if isinstance(packages, dict) else index)
            raise _invalid_record(doc.file, str(doc.problem(where, problem)))


def _first_error(doc: LocatedDoc, exc: ValidationError) -> str:
    """The first schema error as ``file:line:column: field: message (got ...)``."""
    error = exc.errors()[0]
    path = tuple(part for part in error["loc"] if isinstance(part, str | int))
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {str(got)[:40]!r})"
    return str(doc.problem(path, f"{error['msg']}{shown}"))


def _invalid_record(path: Path, reason: str) -> CheckFailed:
    return CheckFailed(
        f"registry record {reason}",
        title="Invalid record",
        hint=f"records are written by mlopsctl and never edited; restore it with: git checkout -- {path}",
    )


def archived_versions(root: Path, model: str) -> set[int]:
    """Version numbers listed in ``registry/<model>/archived.yaml``; a malformed list is a CheckFailed naming it."""
    if not os.path.lexists(os.path.join(root, "registry", model, "archived.yaml")):
        return set()  # the common case, without building paths
    path = archive_path(root, model)
    if not path.is_file():
        return set()
    doc = load_yaml(path)
    if doc.problems:
        raise _invalid_archive(path, str(doc.problems[0]))
    entries = doc.data.get("archived", []) if isinstance(doc.data, dict) else None
    if entries is None or not isinstance(entries, list):
        raise _invalid_archive(path, str(doc.problem(("archived",), "expected a list of entries such as - version: 3")))
    return {_archived_number(doc, index, entry) for index, entry in enumerate(entries)}


def _archived_number(doc: LocatedDoc, index: int, entry: Any) -> int:
    number = entry.get("version") if isinstance(entry, dict) else None
    if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= MAX_VERSION:
        return number
    reason = doc.problem(("archived", index, "version"), f"expected a version number from 1 to {MAX_VERSION}")
    raise _invalid_archive(doc.file, str(reason))


def _invalid_archive(path: Path, reason: str) -> CheckFailed:
    return CheckFailed(
        f"archive list {reason}",
        title="Invalid archive list",
        hint=f"archived.yaml is written by mlopsctl archive; restore it with: git checkout -- {path}",
    )


__all__ = [
    "MAX_VERSION",
    "RECORD_NAME",
    "archived_versions",
    "parse_ref",
    "read_record",
    "record_path",
    "refuse_links",
    "registry_dir",
    "version_numbers",
]
