"""What the registry commands (and the dashboard) ask: which versions exist, where they run, and one in full.

Listing reads ``mlops.yaml`` and ``environments/*.yaml`` only, never the model specs: a registry
listing must not slow down with (or fail because of) a thousand ``model.yaml`` files. Summaries
come from the derived index (:mod:`mlopsctl.registry.index`); ``show`` reads and validates the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlopsctl.contract.records import VersionRecord
from mlopsctl.contract.versions import parse_ref
from mlopsctl.errors import NotFound, UsageError
from mlopsctl.registry.artifacts import ArtifactRefused
from mlopsctl.registry.index import ModelFolder, VersionSummary, scan_registry, summaries
from mlopsctl.registry.records import archived_versions, read_record, record_path
from mlopsctl.registry.store import artifact_store_for, latest_version
from mlopsctl.spec.loader import PROJECT_FILE, Repo, find_repo_root, load_settings
from mlopsctl.spec.models import NAME_PATTERN, Deployment, Environment, ProjectSettings
from mlopsctl.spec.yamlpos import safe_load

Stages = dict[str, dict[int, list[str]]]
"""model -> version -> where it runs, e.g. ``{"churn": {3: ["production"], 4: ["staging (canary 10%)"]}}``."""


@dataclass
class VersionRow:
    """One version as listings show it: its summary, where it runs, and whether it is archived."""

    summary: VersionSummary
    stages: list[str] = field(default_factory=list)
    archived: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary.to_dict(), "stages": self.stages, "archived": self.archived}


@dataclass
class ModelRow:
    """One model as the registry overview shows it: its latest version and where its versions run."""

    latest: VersionRow
    versions: int
    deployments: dict[str, Deployment] = field(default_factory=dict)
    """Environment name -> what it runs of this model."""

    def stage_text(self) -> str:
        """``production v3, staging v3 + v4 canary 10%``."""
        return ", ".join(f"{env} {_deployment_text(d)}" for env, d in self.deployments.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.latest.summary.model,
            "versions": self.versions,
            "latest": self.latest.to_dict(),
            "deployments": {env: d.model_dump(exclude_defaults=True) for env, d in self.deployments.items()},
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.record.ref,
            "path": str(self.path),
            "stages": self.stages,
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


def stages(repo: Repo) -> Stages:
    """Which environment runs which version of each model, read from the environment files."""
    found: Stages = {}
    for env_name, environment in sorted(repo.environments.items()):
        for model, deployment in environment.deployments.items():
            where = found.setdefault(model, {})
            where.setdefault(deployment.version, []).append(env_name)
            if deployment.candidate is not None:
                share = f" {deployment.weight}%" if deployment.weight is not None else ""
                label = f"{env_name} ({deployment.strategy}{share})"
                where.setdefault(deployment.candidate, []).append(label)
    return found


def version_rows(repo: Repo, model: str | None = None) -> list[VersionRow]:
    """Every version (of ``model``, or of all models), oldest first within each model."""
    folders = _folders(repo, model)
    placed = stages(repo)
    archived = {folder.model: _archived(repo, folder) for folder in folders}
    return [
        VersionRow(
            summary=summary,
            stages=placed.get(summary.model, {}).get(summary.version, []),
            archived=summary.version in archived[summary.model],
        )
        for summary in summaries(repo.root, repo.state_dir, folders, complete=model is None)
    ]


def model_rows(repo: Repo) -> list[ModelRow]:
    """One row per model: its latest version, how many it has, and which version each environment runs."""
    folders = _folders(repo, None)
    latest = [ModelFolder(f.model, f.versions[-1:], f.has_archive) for f in folders]
    placed = stages(repo)
    rows = []
    for folder, summary in zip(folders, summaries(repo.root, repo.state_dir, latest, complete=False), strict=True):
        where = placed.get(folder.model, {})
        row = VersionRow(summary, where.get(summary.version, []), summary.version in _archived(repo, folder))
        deployments = {
            env: environment.deployments[folder.model]
            for env, environment in sorted(repo.environments.items())
            if folder.model in environment.deployments
        }
        rows.append(ModelRow(latest=row, versions=len(folder.versions), deployments=deployments))
    return rows


def _deployment_text(deployment: Deployment) -> str:
    text = f"v{deployment.version}"
    if deployment.candidate is not None:
        share = f" {deployment.weight}%" if deployment.weight is not None else ""
        text += f" + v{deployment.candidate} {deployment.strategy}{share}"
    return text


def version_details(repo: Repo, model: str, version: int | None, *, verify: bool = True) -> VersionDetails:
    """A version's full record, its stages, and (with ``verify``) whether the store holds its exact artifact."""
    if version is None:
        version = latest_version(repo, model)
        if version is None:
            raise NotFound(f"{model} has no registered versions", hint=f"register one with: mlopsctl train {model}")
    record = read_record(repo.root, model, version)  # a record that does not fit is a CheckFailed naming it
    store = artifact_store_for(repo)
    return VersionDetails(
        record=record,
        path=record_path(repo.root, model, version),
        stages=stages(repo).get(model, {}).get(version, []),
        archived=version in archived_versions(repo.root, model),
        artifact_path=store.path_for(record.artifact.sha256),
        artifact_state=_artifact_state(repo, record) if verify else "not checked",
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


def _archived(repo: Repo, folder: ModelFolder) -> set[int]:
    return archived_versions(repo.root, folder.model) if folder.has_archive else set()


def _settings(root: Path) -> ProjectSettings:
    return load_settings(root)


def _environment(file: Path) -> Environment | None:
    """An environment file, or None when it does not validate (``validate`` reports it, with positions)."""
    try:
        data = safe_load(file.read_bytes().decode("utf-8"), file)  # bounded; no positions needed here
        return Environment.model_validate(data)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError):
        return None


__all__ = [
    "ModelRow",
    "VersionDetails",
    "VersionRecord",
    "VersionRow",
    "archived_versions",
    "model_rows",
    "open_registry",
    "parse_ref",
    "read_record",
    "stages",
    "version_details",
    "version_rows",
]
