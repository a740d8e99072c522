"""What the faces ask of the specs: find and open a model repository, read settings, print a schema.

The CLI, the dashboard and the demo call these rather than the loader or the schema writer, so how
a repository is read can change behind one seam. Opening a repository is cheap and imported when
the CLI starts; the JSON Schemas load only when asked for. Validating a repository (the specs and
the registry records they name) is :func:`mlopsctl.project.api.validate`, above both packages.

Text read from the repository (names, descriptions, commit subjects) goes to a terminal only
through :func:`terminal_safe` (from :mod:`mlopsctl.textsafe`, re-exported here for the faces).
"""

from __future__ import annotations

from mlopsctl.spec.loader import Repo, find_repo_root, load_settings, open_repo, scan_repo
from mlopsctl.spec.problems import Problem
from mlopsctl.textsafe import UNSAFE, terminal_safe


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
]
