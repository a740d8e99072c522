"""promote, rollback, archive and retire as one call each, and their previews: what the CLI, the dashboard and CI call.

Each action loads the repository, resolves the arguments, builds the operation (policy and file
edit in :mod:`mlopsctl.gitops.operations`) and publishes it (:mod:`mlopsctl.gitops.publish`).
Pull requests carry the environment's plan by default (:func:`plan_provider`), so every face
opens the same pull request for the same promotion.

:func:`preview_promote` and :func:`preview_rollback` compute the same operation from ``HEAD``
without writing anything and return a :class:`Preview`: the gate checks, where the commit would
go and the file diff, or the policy's refusal. ``promote --dry-run`` prints it; the dashboard's
modals render it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mlopsctl.contract.versions import parse_ref
from mlopsctl.errors import CheckFailed, NotFound, PolicyRefused, UsageError
from mlopsctl.gitops.entries import HistoryEntry
from mlopsctl.gitops.history import read_history
from mlopsctl.gitops.live_runs import latest_live_run
from mlopsctl.gitops.operations import Archive, Operation, Promote, Rollback, check_model_name
from mlopsctl.gitops.pr_evidence import LiveEvidence, live_evidence
from mlopsctl.gitops.publish import Outcome, PlanProvider, publish
from mlopsctl.gitops.retire import Retire, registered_versions
from mlopsctl.gitops.snapshot import Snapshot
from mlopsctl.gitops.trailers import extra_trailers
from mlopsctl.ports.git import Git
from mlopsctl.registry.records import version_numbers
from mlopsctl.spec.loader import Repo, scan_repo
from mlopsctl.spec.models import Environment, ModelSpec
from mlopsctl.textsafe import terminal_safe

DEFAULT_CANARY_WEIGHT = 10
DIRECT = "direct"
"""``Preview.branch`` when the commit would go on the current branch."""


@dataclass(frozen=True)
class GateCheck:
    """One gate of the version that would run, as measured when it was registered."""

    gate: str
    value: float | None
    passed: bool


@dataclass
class Preview:
    """What a promotion or rollback would do, computed from ``HEAD``; nothing is written.

    ``refused`` holds the policy's reason (and ``hint`` what to do) when the change is not allowed;
    then ``title``, ``path`` and the texts are empty.
    """

    action: str
    model: str
    env: str
    version: int | None = None
    gates: list[GateCheck] = field(default_factory=list)
    title: str = ""
    branch: str = ""
    """The pull-request branch the commit would go on, or ``"direct"``."""
    path: str = ""
    before: str = ""
    after: str = ""
    diff: str = ""
    refused: str | None = None
    hint: str | None = None

    @property
    def allowed(self) -> bool:
        return self.refused is None

    @property
    def destination(self) -> str:
        """Where the commit would go, in words both faces show."""
        if self.branch == DIRECT:
            return "directly on the current branch"
        return f"on branch {self.branch}, as a pull request"

    def to_dict(self) -> dict[str, object]:
        return {"allowed": self.allowed, **asdict(self)}


def plan_provider(root: Path) -> PlanProvider:
    """The plan in pull-request bodies, from the deploy module (imported only when a request is opened)."""

    def provide(env: str, desired: Environment) -> str:
        from mlopsctl.deploy.api import markdown_plan

        return markdown_plan(root)(env, desired)

    return provide


def promote(
    root: Path,
    ref: str,
    env: str,
    *,
    strategy: str | None = None,
    weight: int | None = None,
    direct: bool = False,
    push: bool = True,
    message: str | None = None,
    plan: PlanProvider | None = None,
    extra_body: str | None = None,
    trailers: dict[str, str] | None = None,
    require_evidence: bool = False,
) -> Outcome:
    """Promote ``MODEL@VERSION`` to ``env``; strategy defaults to canary when a weight is given, else replace.

    The pull request carries the environment's plan (``plan`` replaces :func:`plan_provider`) and,
    when the version ran as a shadow or canary, its live evidence (:mod:`~mlopsctl.gitops.pr_evidence`;
    evidence that cannot be read is said in the body, unless ``require_evidence`` makes it an error,
    raised before anything is committed; with ``direct`` the evidence is read only then, into the
    commit message). ``extra_body`` (markdown) is appended to the pull request's body, or to the
    commit message's body when the commit goes directly on the branch; ``trailers`` follow the
    standard ones (only keys of :data:`~mlopsctl.gitops.trailers.TRAILER_KEYS` the action does not
    write: others raise ValueError).
    """
    extras = _extras(extra_body, trailers)
    repo = scan_repo(root)
    op = _promote_operation(repo, ref, env, strategy, weight, message)
    found = _evidence(repo, op, require_evidence) if require_evidence or not direct else None
    if found is not None:
        extras["extra_body"] = "\n\n".join(filter(None, [found.markdown().strip(), extras["extra_body"]]))
    outcome = _publish(repo, replace(op, **extras), direct, push, plan or plan_provider(repo.root))
    if found is not None:
        outcome.evidence = found
        outcome.next_steps.append(found.headline())
    return outcome


def _evidence(repo: Repo, op: Promote, required: bool) -> LiveEvidence | None:
    """The version's live evidence, read only when it ran live and the promotion passes the policy."""
    snap = Snapshot(Git(repo.root), "HEAD")
    run = latest_live_run(snap, op.model, op.version, op.env)
    if run is None and not required:
        return None
    op.prepare(snap)  # a refused promotion is refused before Prometheus is asked anything
    return live_evidence(snap, op.spec, op.version, run, repo.settings.prometheus, required=required)


def preview_promote(
    root: Path,
    ref: str,
    env: str,
    strategy: str | None = None,
    weight: int | None = None,
    direct: bool = False,
    *,
    repo: Repo | None = None,
) -> Preview:
    """What :func:`promote` would commit, or the policy's refusal; nothing is written.

    ``repo``: specs already loaded from ``root`` (the dashboard keeps them), else they are read.
    """
    repo = repo or scan_repo(root)
    op = _promote_operation(repo, ref, env, strategy, weight, None)
    preview = Preview(action="promote", model=op.model, env=env, version=op.version)
    return _preview(repo.root, op, preview, direct)


def preview_rollback(
    root: Path, model: str, env: str, to: int | None = None, direct: bool = False, *, repo: Repo | None = None
) -> Preview:
    """What :func:`rollback` would commit, or the policy's refusal; nothing is written (``repo`` as above)."""
    repo = repo or scan_repo(root)
    model_spec(repo, model)
    preview = Preview(action="rollback", model=model, env=env, version=to)
    return _preview(repo.root, Rollback(model=model, env=env, to=to), preview, direct)


def rollback(
    root: Path,
    model: str,
    env: str,
    *,
    to: int | None = None,
    direct: bool = False,
    push: bool = True,
    message: str | None = None,
    plan: PlanProvider | None = None,
    extra_body: str | None = None,
    trailers: dict[str, str] | None = None,
) -> Outcome:
    """Return ``model`` in ``env`` to the version that ran before (or ``to``); plan, ``extra_body`` and
    ``trailers`` as in :func:`promote`."""
    extras = _extras(extra_body, trailers)
    repo = scan_repo(root)
    model_spec(repo, model)
    op = Rollback(model=model, env=env, to=to, reason=message, **extras)
    return _publish(repo, op, direct, push, plan or plan_provider(repo.root))


def _extras(extra_body: str | None, trailers: dict[str, str] | None) -> dict[str, Any]:
    """The caller's extra body (terminal-safe) and checked trailers, as operation fields; refused before any work."""
    body = terminal_safe(extra_body).strip() if extra_body else None
    return {"extra_body": body or None, "extra_trailers": extra_trailers(trailers)}


def archive(root: Path, ref: str, *, direct: bool = False, push: bool = True, message: str | None = None) -> Outcome:
    """Mark ``MODEL@VERSION`` archived (``registry/<model>/archived.yaml``); refused while it runs anywhere."""
    repo = scan_repo(root)
    model, version = _resolve_ref(repo, ref)
    by = Git(repo.root).user_identity()
    return _publish(repo, Archive(model=model, version=version, by=by, reason=message), direct, push, None)


def retire(root: Path, ref: str, *, direct: bool = False, push: bool = True, message: str | None = None) -> Outcome:
    """Take ``MODEL`` (every version) or ``MODEL@VERSION`` out of every environment and archive it, in one commit.

    The environment edits and the archive entries go in the same commit (on a pull-request branch by
    default), so merging it is the whole decommission: CI's apply stops what no environment names.
    """
    repo = scan_repo(root)
    op = _retire_operation(repo, ref, message)
    outcome = _publish(repo, op, direct, push, None)
    outcome.next_steps += _retire_steps(outcome, repo.settings.git.main_branch)
    return outcome


def preview_retire(root: Path, ref: str, direct: bool = False, *, repo: Repo | None = None) -> Preview:
    """What :func:`retire` would commit (every file's diff), or the policy's refusal; nothing is written."""
    repo = repo or scan_repo(root)
    op = _retire_operation(repo, ref, None)
    preview = Preview(action="retire", model=op.model, env="", version=op.version)
    snap = Snapshot(Git(repo.root), "HEAD")
    try:
        change = op.prepare(snap)
    except PolicyRefused as exc:
        preview.refused, preview.hint = exc.message, exc.hint
        return preview
    preview.env = ", ".join(change.envs)
    preview.title, preview.path = change.title, change.path
    preview.branch = DIRECT if direct else change.branch
    preview.before, preview.after = snap.read(change.path) or "", change.text
    preview.diff = "\n".join(unified_diff(path, snap.read(path) or "", text) for path, text in change.files.items())
    return preview


def _retire_operation(repo: Repo, ref: str, message: str | None) -> Retire:
    """``MODEL`` (every version), ``MODEL@VERSION`` or ``MODEL@latest``, checked against what is registered."""
    model, version = parse_ref(ref) if "@" in ref else (ref.strip(), None)
    check_model_name(model)
    snap = Snapshot(Git(repo.root), "HEAD")
    registered = registered_versions(snap, model)
    if not registered:
        repo.model(model)  # an unknown model: not found, with the nearest name
        raise NotFound(f"{model} has no registered versions at {snap.commit[:12]}", hint="there is nothing to retire")
    if "@" in ref and version is None:
        version = registered[-1]  # MODEL@latest
    return Retire(model=model, version=version, by=Git(repo.root).user_identity(), reason=message)


def _retire_steps(outcome: Outcome, main_branch: str) -> list[str]:
    """What happens next: CI stops what the environments no longer name; the archive is already in the commit."""
    change = outcome.change
    applies = "; ".join(f"mlopsctl apply --env {env}" for env in change.envs)
    numbers = ", ".join(map(str, change.archived))
    steps = [f"Archived in the same commit: {change.model} {numbers}"] if change.archived else []
    if applies:
        when = "when it merges" if not outcome.direct else f"from {main_branch}"
        steps.append(f"CI stops it {when} ({applies}).")
    return steps


def history(
    root: Path, *, env: str | None = None, model: str | None = None, limit: int | None = None
) -> list[HistoryEntry]:
    """The audit log from ``git log``: newest first, at most ``limit`` entries (None: all)."""
    return read_history(root, env=env, model=model, limit=limit)


def resolve_strategy(spec: ModelSpec, strategy: str | None, weight: int | None) -> tuple[str, int | None]:
    """The strategy and weight a promotion writes; a canary without a weight starts at the spec's first
    ``rollout.steps`` when the spec declares a rollout (so ``mlopsctl rollout`` can drive it), else at
    :data:`DEFAULT_CANARY_WEIGHT` (at most ``promotion.max_canary_weight``)."""
    if strategy is None:
        strategy = "canary" if weight is not None else "replace"
    if weight is not None and strategy != "canary":
        raise UsageError(f"--weight applies to --strategy canary only, not {strategy}")
    if strategy == "canary" and weight is None:
        weight = _first_canary_weight(spec)
    return strategy, weight


def _first_canary_weight(spec: ModelSpec) -> int:
    if "rollout" in spec.model_fields_set:
        return spec.rollout.steps[0]  # above max_canary_weight: the policy refuses it, naming the limit
    return min(DEFAULT_CANARY_WEIGHT, spec.promotion.max_canary_weight)


def model_spec(repo: Repo, model: str) -> ModelSpec:
    """The model's validated spec; its schema problems stop the action."""
    if model in repo.models:
        return repo.models[model]
    file = repo.model_file(model)
    if file.is_file():
        listing = "\n".join(str(p) for p in repo.problems if p.file == str(file))
        raise CheckFailed(
            f"models/{model}/model.yaml has problems:\n{listing}",
            title="Invalid spec",
            hint="run 'mlopsctl validate' and fix them first",
        )
    return repo.model(model)


def _resolve_ref(repo: Repo, ref: str) -> tuple[str, int]:
    model, version = parse_ref(ref)
    if version is not None:
        return model, version
    known = version_numbers(repo.root, model)
    if not known:
        raise NotFound(f"{model} has no registered versions in {repo.root / 'registry' / model}")
    return model, known[-1]


def _promote_operation(
    repo: Repo, ref: str, env: str, strategy: str | None, weight: int | None, message: str | None
) -> Promote:
    model, version = _resolve_ref(repo, ref)
    spec = model_spec(repo, model)
    strategy, weight = resolve_strategy(spec, strategy, weight)
    return Promote(spec=spec, version=version, env=env, strategy=strategy, weight=weight, reason=message)


def _preview(root: Path, op: Promote | Rollback, preview: Preview, direct: bool) -> Preview:
    snap = Snapshot(Git(root), "HEAD")
    try:
        change = op.prepare(snap)
    except PolicyRefused as exc:
        preview.refused, preview.hint = exc.message, exc.hint
        preview.gates = _refused_gates(snap, preview)
        return preview
    preview.version = change.version
    preview.gates = [GateCheck(g.gate, g.value, g.passed) for g in change.record.gates]
    preview.title, preview.path = change.title, change.path
    preview.branch = DIRECT if direct else change.branch
    preview.before, preview.after = snap.read(change.path) or "", change.text
    preview.diff = unified_diff(change.path, preview.before, preview.after)
    return preview


def _refused_gates(snap: Snapshot, preview: Preview) -> list[GateCheck]:
    """The gates of the version asked for, when it can be read: they often say why it was refused."""
    if preview.version is None:
        return []
    try:
        record = snap.record(preview.model, preview.version)
    except (NotFound, CheckFailed):
        return []
    return [GateCheck(g.gate, g.value, g.passed) for g in record.gates]


def unified_diff(path: str, before: str, after: str) -> str:
    """``before`` -> ``after`` as a unified diff of ``path`` (``a/PATH``, ``b/PATH``), without a final newline."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), f"a/{path}", f"b/{path}", lineterm="")
    return "\n".join(lines)


def _publish(repo: Repo, op: Operation, direct: bool, push: bool, plan: PlanProvider | None) -> Outcome:
    return publish(repo.root, repo.settings.git, op, direct=direct, push=push, plan=plan)


def commit_files(root: Path, paths: Sequence[str], message: str) -> str:
    """Stage exactly ``paths`` (relative to ``root``) and commit them on the current branch; the new commit."""
    return Git(root).commit(paths, message)


__all__ = [
    "DEFAULT_CANARY_WEIGHT",
    "DIRECT",
    "GateCheck",
    "HistoryEntry",
    "Outcome",
    "Preview",
    "archive",
    "commit_files",
    "history",
    "model_spec",
    "plan_provider",
    "preview_promote",
    "preview_retire",
    "preview_rollback",
    "promote",
    "resolve_strategy",
    "retire",
    "rollback",
    "unified_diff",
]
