"""The checks of ``mlopsctl validate`` that need the registry: what environments deploy, what it holds.

The specs' own checks (:mod:`mlopsctl.spec.validate`) know nothing of the registry; these say
that a deployed version was registered, is not archived and passed its gates, and that no
artifact in the local store names a type the artifact policy refuses. Every problem is located
at the file, line and column of the offending field, like the specs' own.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from mlopsctl.errors import MlopsError
from mlopsctl.registry.artifacts import (
    SHA256_PATTERN,
    ArtifactRefused,
    ArtifactStore,
    read_schema_file,
    refused_types,
    short_digest,
)
from mlopsctl.registry.records import RECORD_NAME, archived_versions, read_record, version_numbers
from mlopsctl.registry.store import artifact_store_for
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import Environment
from mlopsctl.spec.problems import Problem
from mlopsctl.spec.validate import Report, collect_problems
from mlopsctl.spec.yamlpos import PathKey, load_yaml


def registry_problems(repo: Repo) -> list[Problem]:
    """Every deployed version the registry refuses, then every refused artifact, in no particular order."""
    problems: list[Problem] = []
    for stem, env in repo.environments.items():
        doc = repo.doc_for(repo.environment_file(stem))
        if doc is not None:
            problems.extend(collect_problems(doc, partial(check_deployed_versions, repo, env)))
    problems.extend(refused_artifacts(repo))
    return problems


def check_deployed_versions(repo: Repo, env: Environment, report: Report) -> None:
    """Each deployment's version and candidate, for the models the repository declares."""
    for model, deployment in env.deployments.items():
        if model not in repo.models:
            continue  # the specs' check reports the unknown model
        where: PathKey = ("deployments", model)
        _check_version(repo, model, deployment.version, (*where, "version"), report)
        if deployment.candidate is not None:
            _check_version(repo, model, deployment.candidate, (*where, "candidate"), report)


def _check_version(repo: Repo, model: str, version: int, where: PathKey, report: Report) -> None:
    known = version_numbers(repo.root, model)
    if version not in known:
        listing = ", ".join(map(str, known)) if known else "none registered yet"
        report(where, f"{model}@{version} is not in the registry (versions: {listing})")
        return
    if version in archived_versions(repo.root, model):
        report(where, f"{model}@{version} is archived and cannot be deployed")
    record = read_record(repo.root, model, version)
    if not record.gates_passed:
        failed = ", ".join(g.gate for g in record.gates if not g.passed)
        report(where, f"{model}@{version} failed its gates ({failed}) and cannot be deployed")


def refused_artifacts(repo: Repo) -> list[Problem]:
    """Records whose artifact, when the local store holds it, names types the artifact policy refuses.

    Only each artifact's ``schema.json`` is read (nothing is built), so CI says a contributed
    version can never load before any service tries to load it.
    """
    try:
        store = artifact_store_for(repo)
    except MlopsError:
        return []  # an unusable artifact_store setting is mlops.yaml's problem, reported on its own
    problems: list[Problem] = []
    for record in sorted((repo.root / "registry").glob("*/v*.yaml")):
        if RECORD_NAME.match(record.name):
            problems.extend(_refused_artifact(record, store))
    return problems


def _refused_artifact(record: Path, store: ArtifactStore) -> list[Problem]:
    doc = load_yaml(record)
    artifact = doc.data.get("artifact") if isinstance(doc.data, dict) else None
    sha256 = artifact.get("sha256") if isinstance(artifact, dict) else None
    if not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256):
        return []  # an unreadable record is the registry's own check to report
    path = store.path_for(sha256)
    if not path.is_file():
        return []
    try:
        refused = refused_types(read_schema_file(path, sha256))
    except ArtifactRefused as exc:
        return [doc.problem(("artifact", "sha256"), exc.message)]
    if not refused:
        return []
    listing = "; ".join(f"{name} ({reason})" for name, reason in sorted(refused.items()))
    message = f"artifact sha256:{short_digest(sha256)} contains types mlopsctl will not load: {listing}"
    return [doc.problem(("artifact", "sha256"), message)]
