"""Writes into the state folder never follow a symbolic link out of the repository.

A commit can add ``.mlops -> /home/me`` as easily as a file, and anything running as the user can
plant ``.mlops/artifacts -> /elsewhere``; every writer into the state folder (locks, scratch files,
artifacts, the runs database, caches, the wheelhouse) asks :func:`refuse_state_links` first, once
per command. The artifact and metadata stores may lie outside the repository by the user's own
choice (an ``MLOPS_`` variable or the opt-in, checked when mlops.yaml is read); such a path is
the user's, so only paths inside the repository are walked.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlopsctl.fsio import refuse_links


def refuse_state_links(root: Path, path: Path) -> Path:
    """``path`` unchanged, after refusing a symbolic link between ``root`` and it (CheckFailed, exit 1).

    A path outside ``root`` (a store the user placed elsewhere) is returned without a check.
    """
    inside = Path(os.path.normpath(path))
    if not inside.is_relative_to(root):
        return path
    refuse_links(root, inside)
    for before_parent_step in _prefixes_before_parent_steps(root, path):
        refuse_links(root, before_parent_step)  # 'link/../store' climbs from the link's target, not from link
    return path


SQLITE_COMPANIONS = ("-journal", "-wal", "-shm")
"""Files SQLite creates beside a database: a link planted under one of these names is written through too."""


def refuse_database_links(root: Path, database: Path) -> Path:
    """:func:`refuse_state_links` for a SQLite database and the files SQLite writes beside it."""
    for path in (database, *(database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS)):
        refuse_state_links(root, path)
    return database


def _prefixes_before_parent_steps(root: Path, path: Path) -> list[Path]:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return []
    return [Path(os.path.normpath(root.joinpath(*parts[:i]))) for i, part in enumerate(parts) if part == ".."]


def repository_of(path: Path) -> Path | None:
    """The nearest folder above ``path`` (as written, links not followed) that holds mlops.yaml, or None."""
    for folder in Path(os.path.abspath(path)).parents:
        if (folder / "mlops.yaml").is_file():
            return folder
    return None
