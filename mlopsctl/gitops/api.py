"""promote, rollback and archive as one call each: what the CLI, the dashboard and CI call.

Each loads the repository, resolves the arguments, builds the operation (policy and file edit in
:mod:`mlopsctl.gitops.operations`) and publishes it (:mod:`mlopsctl.gitops.publish`).
"""

from __future__ import annotations

from pathlib import Path

from mlopsctl.errors import CheckFailed, NotFound, UsageError
from mlopsctl.gitops.git import Git
from mlopsctl.gitops.operations import Archive, Operation, Promote, Rollback
from mlopsctl.gitops.publish import Outcome, PlanProvider, publish
from mlopsctl.registry.records import parse_ref, version_numbers
from mlopsctl.spec.loader import Repo, scan_repo
from mlopsctl.spec.models import ModelSpec

DEFAULT_CANARY_WEIGHT = 10


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
) -> Outcome:
    """Promote ``MODEL@VERSION`` to ``env``; strategy defaults to canary when a weight is given, else replace."""
    repo = scan_repo(root)
    model, version = _resolve_ref(repo, ref)
    spec = model_spec(repo, model)
    strategy, weight = resolve_strategy(spec, strategy, weight)
    op = Promote(spec=spec, version=version, env=env, strategy=strategy, weight=weight, reason=message)
    return _publish(repo, op, direct, push, plan)


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
) -> Outcome:
    """Return ``model`` in ``env`` to the version that ran before (or ``to``)."""
    repo = scan_repo(root)
    model_spec(repo, model)
    return _publish(repo, Rollback(model=model, env=env, to=to, reason=message), direct, push, plan)


def archive(root: Path, ref: str, *, direct: bool = False, push: bool = True, message: str | None = None) -> Outcome:
    """Mark ``MODEL@VERSION`` archived (``registry/<model>/archived.yaml``); refused while it runs anywhere."""
    repo = scan_repo(root)
    model, version = _resolve_ref(repo, ref)
    by = Git(repo.root).user_identity()
    return _publish(repo, Archive(model=model, version=version, by=by, reason=message), direct, push, None)


def resolve_strategy(spec: ModelSpec, strategy: str | None, weight: int | None) -> tuple[str, int | None]:
    if strategy is None:
        strategy = "canary" if weight is not None else "replace"
    if weight is not None and strategy != "canary":
        raise UsageError(f"--weight applies to --strategy canary only, not {strategy}")
    if strategy == "canary" and weight is None:
        weight = min(DEFAULT_CANARY_WEIGHT, spec.promotion.max_canary_weight)
    return strategy, weight


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


def _publish(repo: Repo, op: Operation, direct: bool, push: bool, plan: PlanProvider | None) -> Outcome:
    return publish(repo.root, repo.settings.git, op, direct=direct, push=push, plan=plan)
