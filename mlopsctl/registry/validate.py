"""The checks of ``mlopsctl validate`` that need the registry: what environments deploy, what it holds.

The specs' own checks (:mod:`mlopsctl.spec.validate`) know nothing of the registry; these say
that a deployed version was registered, is not archived and passed its gates, and that no
artifact in the local store names a type the artifact policy refuses. Every problem is located
at the file, line and column of the offending field, like the specs' own.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from mlopsctl.errors import MlopsError
from mlopsctl.registry.paths import RECORD_NAME
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import Environment
from mlopsctl.spec.problems import Problem
from mlopsctl.spec.validate import Report, collect_problems
from mlopsctl.spec.yamlpos import PathKey, load_yaml

if TYPE_CHECKING:
    from mlopsctl.registry.artifacts import ArtifactStore


def registry_problems(repo: Repo) -> list[Problem]:
    """Every deployed version the registry refuses, then every refused artifact, in no particular order."""
    problems: list[Problem] = []
    verdicts = DeployVerdicts(repo.root)
    for stem, env in repo.environments.items():
        doc = repo.doc_for(repo.environment_file(stem))
        if doc is not None:
            problems.extend(collect_problems(doc, partial(check_deployed_versions, repo, env, verdicts)))
    problems.extend(refused_artifacts(repo))
    return problems


class DeployVerdicts:
    """Why the registry refuses to deploy each version, read once per validation.

    Environments deploy the same versions (staging and production often run the same one), so
    each record, version list and archive list is read once, not once per environment.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: dict[tuple[str, int], list[str]] = {}

    def refusals(self, model: str, version: int) -> list[str]:
        """The reasons ``model@version`` cannot be deployed, empty when it can."""
        key = (model, version)
        if key not in self._known:
            self._known[key] = self._read(model, version)
        return self._known[key]

    def _read(self, model: str, version: int) -> list[str]:
        from mlopsctl.registry.records import archived_versions, read_record, version_numbers  # pydantic's records

        known = version_numbers(self.root, model)
        if version not in known:
            listing = ", ".join(map(str, known)) if known else "none registered yet"
            return [f"{model}@{version} is not in the registry (versions: {listing})"]
        reasons = []
        if version in archived_versions(self.root, model):
            reasons.append(f"{model}@{version} is archived and cannot be deployed")
        record = read_record(self.root, model, version)
        if not record.gates_passed:
            failed = ", ".join(g.gate for g in record.gates if not g.passed)
            reasons.append(f"{model}@{version} failed its gates ({failed}) and cannot be deployed")
        return reasons


def check_deployed_versions(repo: Repo, env: Environment, verdicts: DeployVerdicts, report: Report) -> None:
    """Each deployment's version and candidate, for the models the repository declares."""
    for model, deployment in env.deployments.items():
        if model not in repo.models:
            continue  # the specs' check reports the unknown model
        where: PathKey = ("deployments", model)
        for field, version in (("version", deployment.version), ("candidate", deployment.candidate)):
            if version is not None:
                for reason in verdicts.refusals(model, version):
                    report((*where, field), reason)


def refused_artifacts(repo: Repo) -> list[Problem]:
    """Records whose artifact, when the local store holds it, names types the artifact policy refuses.

    Only each artifact's ``schema.json`` is read (nothing is built), so CI says a contributed
    version can never load before any service tries to load it. A store that holds no artifact
    cannot hold a refused one: then no record is read at all.
    """
    if not any(_holds_artifacts(root) for root in possible_store_roots(repo)):
        return []  # no store can hold a refused artifact: GitPython and the store's code are not even loaded
    from mlopsctl.registry.store import artifact_store_for

    try:
        store = artifact_store_for(repo)
    except MlopsError:
        return []  # an unusable artifact_store setting is mlops.yaml's problem, reported on its own
    if not _holds_artifacts(store.root):
        return []
    problems: list[Problem] = []
    for record in sorted((repo.root / "registry").glob("*/v*.yaml")):
        if RECORD_NAME.match(record.name):
            problems.extend(_refused_artifact(record, store))
    return problems


def possible_store_roots(repo: Repo) -> tuple[Path, Path]:
    """Where ``artifact_store_for`` puts a store's files: the configured folder, or the state folder's cache
    (for a remote store, or none configured). A test keeps this in step with :mod:`mlopsctl.registry.store`."""
    return repo.artifact_dir, repo.state_dir / "artifacts"


def _holds_artifacts(store_root: Path) -> bool:
    """Whether the store folder (for a remote store, its local cache) holds any artifact: ``sha256/<ab>/...``."""
    folder = store_root / "sha256"
    return folder.is_dir() and any(folder.iterdir())


def _refused_artifact(record: Path, store: ArtifactStore) -> list[Problem]:
    from mlopsctl.registry.artifacts import (
        SHA256_PATTERN,
        ArtifactRefused,
        read_schema_file,
        refused_types,
        short_digest,
    )

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
