"""What the registry commands (and the dashboard) ask: which versions exist, where they run, and one in full.

Listing reads ``mlops.yaml`` and the environment files only, never the model specs: a registry
listing must not slow down with (or fail because of) a thousand ``model.yaml`` files. Summaries
come from the derived index (:mod:`mlopsctl.registry.index`); ``show`` reads and validates the record.

Each version also says who registered it (:mod:`mlopsctl.registry.provenance`: the author of the
commit that added its record) and, per environment, what Git wants and what was last seen running
(:mod:`mlopsctl.registry.placements`), kept apart: ``production: wants v2, running v1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlopsctl.contract.records import VersionRecord
from mlopsctl.contract.versions import parse_ref
from mlopsctl.errors import NotFound, UsageError
from mlopsctl.ports.git import Git
from mlopsctl.registry.artifacts import ArtifactRefused
from mlopsctl.registry.datapull import PulledData, pull_data
from mlopsctl.registry.deployed_at import (
    DeployedAt,
    DeployedModel,
    RecordFacts,
    SetBy,
    deployed_at as _deployed_at,
    parse_moment,
)
from mlopsctl.registry.index import ModelFolder, VersionSummary, record_key, scan_registry, summaries
from mlopsctl.registry.placements import Placement, Placements, placements
from mlopsctl.registry.provenance import NOT_COMMITTED, Registrar, Registrars, registrars_at
from mlopsctl.registry.push import (
    ALREADY_THERE,
    MISSING,
    UPLOADED,
    PushedArtifact,
    PushResult,
    missing_error,
    push_artifacts as _push_artifacts,
)
from mlopsctl.registry.records import archived_versions, read_record, record_path
from mlopsctl.registry.store import artifact_store_for, latest_version, list_versions, load_version
from mlopsctl.spec.loader import PROJECT_FILE, Repo, find_repo_root, load_settings
from mlopsctl.spec.models import NAME_PATTERN, Deployment, Environment, ProjectSettings
from mlopsctl.spec.yamlpos import safe_load

Stages = dict[str, dict[int, list[str]]]
"""model -> version -> where Git wants it, e.g. ``{"churn": {3: ["production"], 4: ["staging (canary 10%)"]}}``."""


@dataclass
class VersionRow:
    """One version as listings show it: its summary, who registered it, where it is wanted and runs."""

    summary: VersionSummary
    stages: list[str] = field(default_factory=list)
    """Environments whose committed file names this version (``staging (canary 10%)`` for a candidate)."""
    archived: bool = False
    running: list[str] = field(default_factory=list)
    """Environments where apply last left this version running (``staging (canary)`` for a candidate)."""
    registered_by: Registrar | None = None
    """None: the record is not committed yet."""

    def registrar_text(self) -> str:
        return self.registered_by.name if self.registered_by is not None else NOT_COMMITTED

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary.to_dict(),
            "registered_by": self.registered_by.to_dict() if self.registered_by is not None else None,
            "stages": self.stages,
            "running": self.running,
            "archived": self.archived,
        }


@dataclass
class ModelRow:
    """One model as the registry overview shows it: its latest version and where its versions run."""

    latest: VersionRow
    versions: int
    deployments: dict[str, Deployment] = field(default_factory=dict)
    """Environment name -> what its committed file deploys of this model."""
    placements: dict[str, Placement] = field(default_factory=dict)
    """Environment name -> what Git wants and what runs, for every environment doing either."""

    def stage_text(self) -> str:
        """``production: wants v2, running v1; staging: wants v1 + v2 (canary 10%), running -``."""
        return "; ".join(f"{env}: {placement.text()}" for env, placement in self.placements.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.latest.summary.model,
            "versions": self.versions,
            "latest": self.latest.to_dict(),
            "deployments": {env: d.model_dump(exclude_defaults=True) for env, d in self.deployments.items()},
            "environments": {env: placement.to_dict() for env, placement in self.placements.items()},
        }


@dataclass
class VersionDetails:
    """Everything about one version: the record, where it runs, and the state of its artifact."""

    record: VersionRecord
    path: Path
    stages: list[str]
    archived: bool
    artifact_path: Path
    artifact_state: str
    """verified, missing, or a digest mismatch description."""
    registered_by: Registrar | None = None
    """The author of the commit that added the record; None: not committed yet."""
    placements: dict[str, Placement] = field(default_factory=dict)
    """The model in each environment: what Git wants and what runs (whichever version that is)."""
    running: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.record.ref,
            "path": str(self.path),
            "registered_by": self.registered_by.to_dict() if self.registered_by is not None else None,
            "stages": self.stages,
            "running": self.running,
            "environments": {env: placement.to_dict() for env, placement in self.placements.items()},
            "archived": self.archived,
            "artifact_path": str(self.artifact_path),
            "artifact_state": self.artifact_state,
            "record": self.record.model_dump(mode="json"),
        }


def open_registry(start: Path | None = None) -> Repo:
    """The repository's settings and environments, without loading (or validating) any model spec."""
    root = start if start is not None and (start / PROJECT_FILE).is_file() else find_repo_root(start)
    root = root.resolve()
    repo = Repo(root=root, settings=_settings(root))
    for file in sorted((root / "environments").glob("*.yaml")):
        environment = _environment(file)
        if environment is not None:
            repo.environments[file.stem] = environment
    return repo


def where_placed(repo: Repo) -> Placements:
    """Every model's placement per environment: committed at ``HEAD`` against what apply left running."""
    return placed_and_registered(repo, [])[0]


def placed_and_registered(repo: Repo, keys: list[str] | None) -> tuple[Placements, Registrars]:
    """Placements, and who registered the records ``keys`` (None: all), with one look at ``HEAD``."""
    git = Git(repo.root)
    try:
        head = git.head()
        placed = placements(git, head, repo.state_dir, repo.environments)
        authors = registrars_at(git, head, repo.state_dir, keys) if keys != [] else {}
        return placed, authors
    finally:
        git.close()


def stages(repo: Repo) -> Stages:
    """Which environment's committed file names which version of each model."""
    found: Stages = {}
    for model, by_env in where_placed(repo).items():
        for version in {v for placement in by_env.values() if placement.wants for v in placement.wants.versions()}:
            found.setdefault(model, {})[version] = wanted_in(by_env, version)
    return found


def wanted_in(by_env: dict[str, Placement], version: int) -> list[str]:
    """``["production", "staging (canary 10%)"]``: environments whose committed file names ``version``."""
    found = []
    for env, placement in by_env.items():
        wants = placement.wants
        if wants is not None and wants.version == version:
            found.append(env)
        elif wants is not None and wants.candidate == version:
            share = f" {wants.weight}%" if wants.weight is not None else ""
            found.append(f"{env} ({wants.strategy}{share})")
    return found


def running_in(by_env: dict[str, Placement], version: int) -> list[str]:
    """``["production", "staging (canary)"]``: environments where apply left ``version`` running."""
    return [
        env if served.role == "stable" else f"{env} ({served.role})"
        for env, placement in by_env.items()
        for served in placement.running or []
        if served.version == version
    ]


def version_rows(repo: Repo, model: str | None = None) -> list[VersionRow]:
    """Every version (of ``model``, or of all models), oldest first within each model."""
    folders = _folders(repo, model)
    placed, authors = placed_and_registered(repo, None if model is None else _record_keys(folders))
    archived = {folder.model: _archived(repo, folder) for folder in folders}
    return [
        _version_row(summary, placed.get(summary.model, {}), authors, archived[summary.model])
        for summary in summaries(repo.root, repo.state_dir, folders, complete=model is None)
    ]


def _version_row(
    summary: VersionSummary, by_env: dict[str, Placement], authors: Registrars, archived: set[int]
) -> VersionRow:
    version = summary.version
    return VersionRow(
        summary=summary,
        stages=wanted_in(by_env, version) if by_env else [],
        archived=version in archived,
        running=running_in(by_env, version) if by_env else [],
        registered_by=authors.get(record_key(summary.model, version)),
    )


def model_rows(repo: Repo) -> list[ModelRow]:
    """One row per model: its latest version, how many it has, what each environment wants and runs."""
    folders = _folders(repo, None)
    latest = [ModelFolder(f.model, f.versions[-1:], f.has_archive) for f in folders]
    placed, authors = placed_and_registered(repo, _record_keys(latest))
    rows = []
    for folder, summary in zip(folders, summaries(repo.root, repo.state_dir, latest, complete=False), strict=True):
        by_env = placed.get(folder.model, {})
        row = _version_row(summary, by_env, authors, _archived(repo, folder))
        deployments = {env: p.wants.deployment for env, p in by_env.items() if p.wants is not None}
        rows.append(ModelRow(latest=row, versions=len(folder.versions), deployments=deployments, placements=by_env))
    return rows


def version_details(repo: Repo, model: str, version: int | None, *, verify: bool = True) -> VersionDetails:
    """A version's full record, its stages, and (with ``verify``) whether the store holds its exact artifact."""
    if version is None:
        version = latest_version(repo, model)
        if version is None:
            raise NotFound(f"{model} has no registered versions", hint=f"register one with: mlopsctl train {model}")
    record = read_record(repo.root, model, version)  # a record that does not fit is a CheckFailed naming it
    store = artifact_store_for(repo)
    key = record_key(model, version)
    placed, authors = placed_and_registered(repo, [key])
    by_env = placed.get(model, {})
    return VersionDetails(
        record=record,
        path=record_path(repo.root, model, version),
        stages=wanted_in(by_env, version),
        archived=version in archived_versions(repo.root, model),
        artifact_path=store.path_for(record.artifact.sha256),
        artifact_state=_artifact_state(repo, record) if verify else "not checked",
        registered_by=authors.get(key),
        placements=by_env,
        running=running_in(by_env, version),
    )


def _artifact_state(repo: Repo, record: VersionRecord) -> str:
    try:
        artifact_store_for(repo).get(record.artifact)
    except NotFound:
        return "missing"
    except ArtifactRefused:
        return "digest mismatch"
    return "verified"


def _folders(repo: Repo, model: str | None) -> list[ModelFolder]:
    if model is not None and not re.fullmatch(NAME_PATTERN, model):
        raise UsageError(
            f"'{model}' is not a valid model name",
            hint="use lower-case letters, digits and dashes, starting with a letter",
        )
    folders = scan_registry(repo.root, model)
    if model is not None and not folders[0].versions:
        known = [folder.model for folder in scan_registry(repo.root)]
        hint = f"models with versions: {', '.join(known)}" if known else "no model has registered versions yet"
        raise NotFound(f"{model} has no registered versions in {repo.root / 'registry' / model}", hint=hint)
    return folders


def _record_keys(folders: list[ModelFolder]) -> list[str]:
    return [record_key(folder.model, version) for folder in folders for version in folder.versions]


def _archived(repo: Repo, folder: ModelFolder) -> set[int]:
    return archived_versions(repo.root, folder.model) if folder.has_archive else set()


def deployed_at(root: Path, env: str, at: str, model: str | None = None) -> DeployedAt:
    """What ``environments/ENV.yaml`` on the main branch said was deployed at ``at`` (ISO 8601, no zone: UTC;
    or an age, ``2h ago``), who set each placement and its versions' records then.

    A time that does not read or is in the future is a UsageError; ENV's file absent then a NotFound.
    """
    moment = parse_moment(at, datetime.now(UTC))
    git = Git(root)
    try:
        return _deployed_at(git, _settings(root).git.main_branch, env, moment, model)
    finally:
        git.close()


def _settings(root: Path) -> ProjectSettings:
    return load_settings(root)


def _environment(file: Path) -> Environment | None:
    """An environment file, or None when it does not validate (``validate`` reports it, with positions)."""
    try:
        data = safe_load(file.read_bytes().decode("utf-8"), file)  # bounded; no positions needed here
        return Environment.model_validate(data)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError):
        return None


def push_artifacts(root: Path | None, refs: list[str], *, every_version: bool = False) -> PushResult:
    """``registry push``: upload the artifacts of ``refs`` (MODEL@VERSION), or of every version, that the
    shared store lacks, from this machine's copies (each checked by sha256 first)."""
    return _push_artifacts(open_registry(root), refs, every_version=every_version)


__all__ = [
    "ALREADY_THERE",
    "MISSING",
    "NOT_COMMITTED",
    "UPLOADED",
    "DeployedAt",
    "DeployedModel",
    "ModelRow",
    "Placement",
    "PulledData",
    "PushResult",
    "PushedArtifact",
    "RecordFacts",
    "Registrar",
    "SetBy",
    "VersionDetails",
    "VersionRecord",
    "VersionRow",
    "archived_versions",
    "deployed_at",
    "list_versions",
    "load_version",
    "missing_error",
    "model_rows",
    "open_registry",
    "parse_ref",
    "pull_data",
    "push_artifacts",
    "read_record",
    "stages",
    "version_details",
    "version_rows",
]
