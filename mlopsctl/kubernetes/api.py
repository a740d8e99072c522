"""Render an environment for a cluster: the calls the CLI, deploy (plan, apply) and gitops (promote) make.

* :func:`render_environment`: ``environments/<env>.yaml`` as it is in the working tree, rendered into
  ``deploy/<env>/`` (``mlopsctl render``).
* :func:`manifest_plan`: what rendering the environment file committed at a ref would change in the
  ``deploy/<env>/`` committed there (``plan`` for a kubernetes environment).
* :func:`commit_rendering`: render the committed environment file and commit ``deploy/<env>/``
  (``apply`` for a kubernetes environment), optionally ``kubectl apply -k`` it.
* :func:`promotion_files`: the files a promotion's commit changes besides the environment file.
* :func:`validation_problems`: what stops rendering, at file:line:column (``validate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.errors import CheckFailed, NotFound
from mlopsctl.fsio import refuse_links
from mlopsctl.kubernetes import files
from mlopsctl.kubernetes.inputs import gather, kubernetes_models
from mlopsctl.kubernetes.manifests import environment_objects, model_of
from mlopsctl.ports import kubectl
from mlopsctl.ports.git import Git
from mlopsctl.spec.environments import check_environment_name, env_path, parse_environment
from mlopsctl.spec.loader import load_settings
from mlopsctl.spec.models import Environment, ProjectSettings
from mlopsctl.spec.problems import Problem

__all__ = [
    "CommitResult",
    "ManifestPlan",
    "RenderResult",
    "commit_rendering",
    "is_rendered",
    "manifest_plan",
    "promotion_files",
    "render_environment",
    "rendered_texts",
    "validation_problems",
]


@dataclass
class RenderResult:
    """What ``render`` wrote: the folder, its files, and what changed in it."""

    env: str
    folder: str
    files: list[str]
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "folder": self.folder,
            "files": self.files,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "next_steps": self.next_steps,
        }


@dataclass
class ManifestPlan:
    """``deploy/<env>/`` at a commit against the rendering of that commit's environment file."""

    env: str
    folder: str
    models: list[str]
    diff: str = ""
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        if self.problems:
            return f"{self.folder}/ cannot be rendered"
        if self.in_sync:
            return f"{self.folder}/ matches the rendering"
        counts = [(len(self.added), "to add"), (len(self.changed), "to change"), (len(self.removed), "to remove")]
        return f"{self.folder}/: " + ", ".join(f"{n} file(s) {what}" for n, what in counts if n)

    def files_of(self, model: str) -> list[str]:
        """The files of ``model`` that the rendering adds, changes or removes."""
        return [name for name in self.added + self.changed + self.removed if model_of(name) == model]

    def touched_models(self) -> list[str]:
        """Every model with a file to add, change or remove, sorted."""
        found = {model_of(name) for name in self.added + self.changed + self.removed}
        return sorted(model for model in found if model is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "models": self.models,
            "in_sync": self.in_sync,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "problems": self.problems,
            "diff": self.diff,
            "summary": self.summary(),
        }


@dataclass
class CommitResult:
    env: str
    folder: str
    commit: str | None
    """The commit holding the new rendering; None when the folder already matched."""
    changed_files: int
    kubectl_output: str | None = None


def is_rendered(environment: Environment, settings: ProjectSettings) -> bool:
    """Whether any deployment of ``environment`` runs on the kubernetes target."""
    return bool(kubernetes_models(environment, settings))


def rendered_texts(root: Path, settings: ProjectSettings, env: str, text: str) -> dict[str, str]:
    """File name to text of ``deploy/<env>/`` for the environment file holding ``text``; CheckFailed on a problem."""
    gathered = gather(root, settings, env, text)
    if gathered.given is None:
        raise _render_refused(env, [str(problem) for problem in gathered.problems])
    return files.folder_texts(env, gathered.given.namespace, environment_objects(gathered.given))


def render_environment(root: Path, env: str) -> RenderResult:
    """Render the working tree's ``environments/<env>.yaml`` into ``deploy/<env>/``."""
    root = root.resolve()
    settings = load_settings(root)
    text = _working_tree_env(root, env)
    _require_kubernetes(env, parse_environment(env, text), settings)
    texts = rendered_texts(root, settings, env, text)
    files.recover(root, env, _lock_dir(root, settings))
    before = files.read_folder(root, env)
    change = files.compare(before, texts)
    if not change.empty:
        files.replace_folder(root, env, texts, _lock_dir(root, settings))
    folder = files.folder_of(env)
    result = RenderResult(env, folder, list(texts), change.added, change.changed, change.removed)
    result.next_steps = _render_next_steps(env, folder, change.empty)
    return result


def manifest_plan(root: Path, env: str, ref: str = "HEAD", text: str | None = None) -> ManifestPlan:
    """What rendering would change in ``deploy/<env>/`` at ``ref`` (the environment file there, or ``text``)."""
    git = Git(root)
    commit = _commit(git, ref)
    settings = load_settings(root)
    env_text = text if text is not None else _committed_env(git, commit, env)
    environment = parse_environment(env, env_text)
    folder = files.folder_of(env)
    plan = ManifestPlan(env, folder, kubernetes_models(environment, settings))
    gathered = gather(root, settings, env, env_text)
    if gathered.given is None:
        plan.problems = [str(problem) for problem in gathered.problems]
        return plan
    after = files.folder_texts(env, gathered.given.namespace, environment_objects(gathered.given))
    before = committed_folder(git, commit, env)
    change = files.compare(before, after)
    plan.added, plan.changed, plan.removed = change.added, change.changed, change.removed
    plan.diff = files.unified_diff(folder, before, after)
    return plan


def commit_rendering(root: Path, env: str, *, ref: str = "HEAD", use_kubectl: bool = False) -> CommitResult:
    """Render the environment file committed at ``ref`` into ``deploy/<env>/`` and commit the folder."""
    if use_kubectl:
        kubectl.require_kubeconfig("apply --kubectl")
    root = root.resolve()
    git = Git(root)
    commit = _commit(git, ref)
    settings = load_settings(root)
    text = _committed_env(git, commit, env)
    texts = rendered_texts(root, settings, env, text)
    folder = files.folder_of(env)
    change = files.compare(committed_folder(git, commit, env), texts)
    files.replace_folder(root, env, texts, _lock_dir(root, settings))
    made = None
    if not change.empty or git.is_dirty([folder]):
        made = git.commit([folder], f"Render {folder}/ from environments/{env}.yaml at {commit[:12]}\n")
    result = CommitResult(env, folder, made, len(change.added) + len(change.changed) + len(change.removed))
    if use_kubectl:
        # the cluster is the kubeconfig's current context: the user's choice, never the repository's
        result.kubectl_output = kubectl.apply_kustomization(root / folder)
    return result


def promotion_files(
    root: Path, settings: ProjectSettings, commit: str, env: str, text: str
) -> tuple[dict[str, str], list[str]]:
    """For a promotion on ``commit`` leaving ``environments/<env>.yaml`` as ``text``: the rendered files
    to write (repository path to text) and those to delete. Nothing when the environment is not rendered."""
    if not is_rendered(parse_environment(env, text), settings):
        return {}, []
    git = Git(root)
    folder = files.folder_of(env)
    after = rendered_texts(root, settings, env, text)
    before = committed_folder(git, commit, env)
    written = {f"{folder}/{name}": body for name, body in after.items() if before.get(name) != body}
    return written, [f"{folder}/{name}" for name in before if name not in after]


def validation_problems(root: Path, environments: dict[str, Environment], settings: ProjectSettings) -> list[Problem]:
    """What stops each kubernetes environment of the working tree from rendering, at file:line:column."""
    found: list[Problem] = []
    for env, environment in sorted(environments.items()):
        if not is_rendered(environment, settings):
            continue
        path = refuse_links(root, root / env_path(env))
        found.extend(gather(root, settings, env, path.read_text(encoding="utf-8")).problems)
    return found


def committed_folder(git: Git, commit: str, env: str) -> dict[str, str]:
    """The YAML files of ``deploy/<env>/`` committed in ``commit`` (none when it has no such folder)."""
    folder = files.folder_of(env)
    listing = git.out("ls-tree", "--name-only", commit, f"{folder}/").splitlines()
    names = [line.rsplit("/", 1)[-1] for line in listing if line.endswith(".yaml")]
    texts = git.read_blobs([f"{commit}:{folder}/{name}" for name in names])
    return {name: text for name, text in zip(names, texts, strict=True) if text is not None}


# --------------------------------------------------------------------------- helpers


def _lock_dir(root: Path, settings: ProjectSettings) -> Path:
    return root / settings.state_dir / "locks"


def _commit(git: Git, ref: str) -> str:
    commit = git.resolve(ref)
    if commit is None:
        raise NotFound(f"no commit '{ref}' in {git.root}", hint="commit the environment files first")
    return commit


def _committed_env(git: Git, commit: str, env: str) -> str:
    check_environment_name(env)
    text = git.read_blobs([f"{commit}:{env_path(env)}"])[0]
    if text is None:
        raise NotFound(f"no {env_path(env)} at {commit[:12]}", hint="commit the environment file first")
    return text


def _working_tree_env(root: Path, env: str) -> str:
    check_environment_name(env)
    path = refuse_links(root, root / env_path(env))
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (root / "environments").glob("*.yaml"))) or "none"
        raise NotFound(f"no environment '{env}' in {root / 'environments'}", hint=f"environments here: {known}")
    return path.read_text(encoding="utf-8")


def _require_kubernetes(env: str, environment: Environment, settings: ProjectSettings) -> None:
    if not is_rendered(environment, settings):
        raise CheckFailed(
            f"{env_path(env)} runs nothing on the kubernetes target: there is nothing to render",
            title="Not a kubernetes environment",
            hint=f"set target: kubernetes in {env_path(env)} (or on one deployment) to render it for a cluster",
        )


def _render_refused(env: str, problems: list[str]) -> CheckFailed:
    listing = "\n".join(f"  {problem}" for problem in problems)
    return CheckFailed(
        f"deploy/{env}/ cannot be rendered, nothing was written:\n{listing}",
        title="Cannot render",
        hint="fix what each line names ('mlopsctl validate' shows every problem), then render again",
    )


def _render_next_steps(env: str, folder: str, unchanged: bool) -> list[str]:
    if unchanged:
        return [f"{folder}/ already matches environments/{env}.yaml: nothing written"]
    return [
        f"Check it: kubectl kustomize {folder}",
        f"Commit it: git add {folder} && git commit -m 'Render {env}'; Argo CD or Flux syncs it from there",
    ]
