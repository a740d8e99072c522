"""The spec a run trains with: the model's file, plus ``--set`` overrides, checked as ``validate`` would.

Schema errors and semantic problems (unknown columns, an estimator parameter scikit-learn
rejects) stop the run before anything is written. A problem caused by a ``--set`` is a usage
error naming the ``--set``; a problem in the file is located at its file, line and column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from sklearn.model_selection import ParameterGrid

from mlopsctl.errors import CheckFailed, UsageError
from mlopsctl.ports.git import Git
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import ModelSpec
from mlopsctl.spec.validate import Report, check_model, load_estimator_class
from mlopsctl.spec.yamlpos import PathKey, load_yaml
from mlopsctl.train.overrides import Override, apply_overrides, parse_override, validate_overridden


@dataclass(frozen=True)
class RunSpec:
    """The spec to train with and where it came from."""

    spec: ModelSpec
    overrides: list[str]
    file: Path
    sha256: str
    """sha256 of the spec file's bytes (without overrides)."""
    commit: str
    """HEAD when the run started ("" in a repository without commits)."""
    dirty: bool
    """The spec file differs from HEAD, or an override changed what the committed spec cannot restore.

    The record keeps the final estimator parameters, and gates, serving and monitoring settings do
    not change the fitted model, so overrides of those leave a version reproducible from its commit.
    """


def run_spec(repo: Repo, model: str, overrides: list[str], *, data_given: bool = False, grid: bool = False) -> RunSpec:
    repo.model(model)  # NotFound with a did-you-mean for an unknown model
    file = repo.model_file(model)
    parsed = [parse_override(text) for text in overrides]
    spec = repo.models[model]
    doc = repo.doc_for(file)
    if parsed and doc is not None and isinstance(doc.data, dict):
        spec = validate_overridden(apply_overrides(doc.data, parsed), parsed)
    _semantic_checks(repo, model, spec, parsed, data_given=data_given, grid=grid)
    commit, dirty = _git_state(repo, file)
    touches_more = any(not _keeps_the_model(o) for o in parsed)
    return RunSpec(
        spec=spec,
        overrides=list(overrides),
        file=file,
        sha256=hashlib.sha256(file.read_bytes()).hexdigest(),
        commit=commit,
        dirty=dirty or touches_more,
    )


_MODEL_NEUTRAL: tuple[tuple[str | int, ...], ...] = (
    ("training", "params"),
    ("evaluation", "gates"),
    ("serving",),
    ("monitoring",),
    ("retraining",),
    ("promotion",),
    ("business",),
    ("description",),
)


def _keeps_the_model(override: Override) -> bool:
    return any(override.path[: len(prefix)] == prefix for prefix in _MODEL_NEUTRAL)


def _semantic_checks(
    repo: Repo, model: str, spec: ModelSpec, overrides: list[Override], *, data_given: bool, grid: bool
) -> None:
    doc = repo.doc_for(repo.model_file(model))
    if doc is None:
        return
    from_file: list[tuple[PathKey, str]] = []
    from_overrides: list[str] = []

    def report(path: PathKey, message: str) -> None:
        if data_given and path[:2] == ("data", "source"):
            return  # --data replaces the spec's data file
        cause = next((o for o in overrides if o.covers(tuple(path))), None)
        if cause is not None:
            from_overrides.append(f"{cause.text}: {message}")
        else:
            from_file.append((path, message))

    check_model(repo, model, spec, report)
    if grid and not from_overrides and not from_file:
        _check_grid(spec, report)
    if from_overrides:
        raise UsageError("\n".join(from_overrides), title="Invalid --set", hint="fix the value and run again")
    if from_file:
        if not doc.positions:  # loaded by the fast parser: read it again, keeping line and column
            doc = load_yaml(doc.file)
        located = [doc.problem(path, message) for path, message in from_file]
        shown = [replace(problem, file=_relative(repo, Path(problem.file))) for problem in located]
        raise CheckFailed(
            "\n".join(str(problem) for problem in shown),
            title="Invalid spec",
            hint=f"fix {_relative(repo, doc.file)}; 'mlopsctl validate' shows every problem",
        )


def _check_grid(spec: ModelSpec, report: Report) -> None:
    """Every grid candidate's parameters pass the estimator's own checks (before any fitting starts)."""
    estimator = load_estimator_class(spec.training.estimator)
    if isinstance(estimator, str) or not spec.training.grid:
        return
    for candidate in ParameterGrid(spec.training.grid):
        try:
            instance = estimator(**{**spec.training.params, **candidate})
            check = getattr(instance, "_validate_params", None)
            if callable(check):
                check()
        except (TypeError, ValueError) as exc:
            shown = " ".join(f"{name}={value}" for name, value in candidate.items())
            named = next((name for name in candidate if f"'{name}'" in str(exc)), None)
            path: PathKey = ("training", "grid", named) if named else ("training", "grid")
            report(path, f"candidate {shown}: {' '.join(str(exc).split())}")
            return


def _git_state(repo: Repo, file: Path) -> tuple[str, bool]:
    git = Git(repo.root)
    head = git.head() if git.is_repo() else None
    if head is None:
        return "", True
    relative = _relative(repo, file)
    tracked = git.run("cat-file", "-e", f"{head}:{relative}", check=False).returncode == 0
    return head, not tracked or git.is_dirty([relative])


def _relative(repo: Repo, file: Path) -> str:
    try:
        return file.relative_to(repo.root).as_posix()
    except ValueError:
        return str(file)
