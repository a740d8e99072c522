"""What Git says runs: an environment file at a commit, resolved to one service spec per model.

The desired state is the environment file **as committed** (``HEAD`` by default; CI checks out
what was merged, so HEAD is what was reviewed). An uncommitted edit is never applied; ``plan``
says when the working tree differs. Ports follow the rule monitoring uses to find services before
an apply (:mod:`mlopsctl.monitor.targets`): a deployment's ``port``, else the environment's
``base_port`` plus the deployment's position in the file.

Versions are checked only when a service is about to start with them (the record is read from the
working tree, where records are immutable and committed): a hand-edited file that names a version
that failed its gates, is archived, or is not registered is refused before anything is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.deploy.model import ServiceSpec
from mlopsctl.errors import MlopsError, NotFound
from mlopsctl.ports.git import Git
from mlopsctl.registry.records import archived_versions, record_path
from mlopsctl.registry.store import parse_record_file
from mlopsctl.spec.environments import check_environment_name, env_path, parse_environment
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import Environment

RUNNABLE_TARGETS = ("local", "docker")
_GATES_LINE = re.compile(r"^gates_passed:[ \t]*(true|false)[ \t]*$", re.MULTILINE)


def read_environments(root: Path, ref: str = "HEAD", names: list[str] | None = None) -> dict[str, Environment]:
    """Environment name to its validated desired state, as committed in ``ref``.

    Reading a commit (``HEAD``, or ``origin/main`` in CI) rather than the working tree means an
    uncommitted edit is never applied by accident.
    """
    return _committed_environments(Git(root), ref, names)[1]


def _committed_environments(git: Git, ref: str, names: list[str] | None) -> tuple[str, dict[str, Environment]]:
    """The commit ``ref`` names and its environments: the commit, the folder's listing and every file come
    through one persistent ``git cat-file --batch`` process, whatever their number and size."""
    for name in names or []:
        check_environment_name(name)
    commit = git.commit_of(ref)
    if commit is None:
        raise NotFound(f"no commit '{ref}' in {git.root}", hint="commit the environment files first")
    listing = git.tree_names(commit, "environments")
    found = sorted(Path(line).stem for line in listing if line.endswith(".yaml"))
    wanted = found if names is None else names
    missing = [name for name in wanted if name not in found]
    if missing:
        raise NotFound(
            f"no environment {', '.join(missing)} in environments/ at {commit[:12]}",
            hint=f"environments there: {', '.join(found) or 'none'}",
        )
    texts = git.read_blobs([f"{commit}:{env_path(name)}" for name in wanted])
    return commit, {name: parse_environment(name, text or "") for name, text in zip(wanted, texts, strict=True)}


@dataclass
class Desired:
    """An environment's services as Git says, and what cannot run here."""

    env: str
    commit: str | None
    services: list[ServiceSpec]
    rendered: list[ServiceSpec] = field(default_factory=list)
    """Deployments on the kubernetes target: rendered as manifests, never run by apply."""
    uncommitted: bool = False
    """The working tree's environment file differs from the committed one."""

    def by_model(self) -> dict[str, ServiceSpec]:
        return {spec.model: spec for spec in self.services}

    def targets(self) -> set[str]:
        return {spec.target for spec in self.services}


def read_desired(repo: Repo, env: str, ref: str = "HEAD") -> Desired:
    """The environment as committed at ``ref``."""
    git = Git(repo.root)
    commit, environments = _committed_environments(git, ref, [env])
    desired = resolve(environments[env], repo.settings.default_target, env)
    desired.commit = commit
    desired.uncommitted = ref == "HEAD" and _differs_from_commit(git, env)
    return desired


def resolve(environment: Environment, default_target: str, env: str | None = None) -> Desired:
    """Every deployment of ``environment`` as a service spec (the same port rule as monitoring)."""
    name = env or environment.name
    runnable: list[ServiceSpec] = []
    rendered: list[ServiceSpec] = []
    for index, (model, deployment) in enumerate(environment.deployments.items()):
        target = deployment.target or environment.target or default_target
        spec = ServiceSpec(
            model=model,
            version=deployment.version,
            target=target,
            port=deployment.port or environment.base_port + index,
            strategy=deployment.strategy,
            candidate=deployment.candidate,
            weight=deployment.weight if deployment.strategy == "canary" else None,
        )
        (runnable if target in RUNNABLE_TARGETS else rendered).append(spec)
    return Desired(env=name, commit=None, services=runnable, rendered=rendered)


def port_clashes(specs: list[ServiceSpec]) -> list[str]:
    """Two deployments of one environment that would listen on the same port."""
    owners: dict[int, list[str]] = {}
    for spec in specs:
        owners.setdefault(spec.port, []).append(spec.model)
    return [
        f"{' and '.join(models)} would all listen on port {port}: give them different ports in the environment file"
        for port, models in owners.items()
        if len(models) > 1
    ]


def refusals(root: Path, specs: list[ServiceSpec]) -> list[str]:
    """Why any of these services cannot start: a version not registered, failed or archived."""
    found: list[str] = []
    archived: dict[str, set[int]] = {}
    for spec in specs:
        for version in spec.versions():
            if spec.model not in archived:
                archived[spec.model] = archived_versions(root, spec.model)
            problem = _refusal(root, spec.model, version, archived[spec.model])
            if problem:
                found.append(problem)
    return list(dict.fromkeys(found))


def _refusal(root: Path, model: str, version: int, archived: set[int]) -> str | None:
    path = record_path(root, model, version)
    ref = f"{model}@{version}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{ref} is not registered (no {path.relative_to(root)})"
    if _passed_line(text) is not True:
        try:
            data = parse_record_file(path)
        except MlopsError as exc:
            return exc.message
        if not data.get("gates_passed"):
            return f"{ref} failed its gates ({_failed_gates(data)}) and cannot be deployed"
    if version in archived:
        return f"{ref} is archived and cannot be deployed"
    return None


def _passed_line(text: str) -> bool | None:
    """``gates_passed`` from the one top-level line the registry writes; None when it is not that plain.

    Records are written by the registry, so one exact line says it without parsing the whole record
    (bin edges and shares make records long); anything unusual is parsed in full by the caller.
    """
    found = _GATES_LINE.findall(text)
    return found[0] == "true" if len(found) == 1 else None


def _failed_gates(data: dict[str, Any]) -> str:
    gates = [g for g in data.get("gates") or [] if isinstance(g, dict) and not g.get("passed")]
    return ", ".join(str(g.get("gate")) for g in gates) or "no gate results"


def _differs_from_commit(git: Git, env: str) -> bool:
    path = f"environments/{env}.yaml"
    return git.run("diff", "--quiet", "HEAD", "--", path, check=False).returncode == 1
