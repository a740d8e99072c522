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
    return repo, in_file_order([*problems, *registry_problems(repo), *rendering])


__all__ = ["Problem", "Repo", "validate"]
