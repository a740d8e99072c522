"""What the faces ask of the whole repository: validate it, specs and registry together.

The specs' checks (:mod:`mlopsctl.spec.validate`) sit below the registry; the checks that need
the registry (:mod:`mlopsctl.registry.validate`) sit in it. This package is above both, so
neither imports the other. Validation imports the registry's artifact policy, so it loads only
when asked for: the CLI imports this module when it starts.
"""

from __future__ import annotations

from pathlib import Path

from mlopsctl.spec.loader import Repo
from mlopsctl.spec.problems import Problem


def validate(root: Path) -> tuple[Repo, list[Problem]]:
    """Schema, semantic and registry checks over the repository at ``root``: the repo and every problem."""
    from mlopsctl.kubernetes.api import validation_problems  # kubernetes environments: what stops a render
    from mlopsctl.registry.validate import registry_problems  # the artifact policy: only when validating
    from mlopsctl.spec.validate import in_file_order, validate_specs

    repo, problems = validate_specs(root)
    rendering = validation_problems(repo.root, repo.environments, repo.settings)
    # A render reads the same specs: a spec problem it meets again is said once.
    found = [*problems, *registry_problems(repo), *rendering]
    return repo, in_file_order(list({_where_and_what(repo.root, p): p for p in found}.values()))


def _where_and_what(root: Path, problem: Problem) -> tuple[str, int, int, str, str]:
    """A problem as the user reads it (one file named relative or absolute is the same file)."""
    file = Path(problem.file)
    path = str(file.relative_to(root)) if file.is_absolute() and file.is_relative_to(root) else str(file)
    return (path, problem.line, problem.column, problem.field, problem.message)


__all__ = ["Problem", "Repo", "validate"]
