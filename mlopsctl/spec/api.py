"""What the faces ask of the specs: find and open a model repository, validate it, print a schema.

The CLI, the dashboard and the demo call these rather than the loader, the validator or the
schema writer, so how a repository is read can change behind one seam. Opening a repository is
cheap and imported when the CLI starts; validation (which imports the registry's artifact policy)
and the JSON Schemas load only when asked for.

Text read from the repository (names, descriptions, commit subjects) goes to a terminal only
through :func:`terminal_safe` (from :mod:`mlopsctl.textsafe`, re-exported here for the faces).
"""

from __future__ import annotations

from pathlib import Path

from mlopsctl.spec.loader import Repo, find_repo_root, load_settings, open_repo, scan_repo
from mlopsctl.spec.problems import Problem
from mlopsctl.textsafe import UNSAFE, terminal_safe


def validate(root: Path) -> tuple[Repo, list[Problem]]:
    """Schema plus semantic checks over the repository at ``root``: the repo and every problem."""
    from mlopsctl.spec.validate import validate_specs as validate_repo  # the specs only: not the registry

    return validate_repo(root)


def schema_text(kind: str) -> str:
    """The JSON Schema of a spec kind (model, project or environment), as printed text."""
    from mlopsctl.spec import schema  # pydantic's schema generation: only when asked for

    return schema.schema_text(kind)


__all__ = [
    "UNSAFE",
    "Problem",
    "Repo",
    "find_repo_root",
    "load_settings",
    "open_repo",
    "scan_repo",
    "schema_text",
    "terminal_safe",
    "validate",
]
