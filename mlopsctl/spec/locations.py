"""Where a path written in a committed file may point: inside the repository, unless the user opts in.

Every file in a model repository may come from someone the user does not fully trust, so a spec
must not make mlopsctl read ``/etc/shadow`` as data, keep its state in ``~/.ssh``, or write logs
outside the repository. Paths are judged twice:

* **as written** (:func:`escapes_repository`), when a spec is validated: an absolute path, ``~``,
  a ``file://`` URI to either, or ``..`` that climbs above the repository root;
* **as resolved** (:func:`resolved_outside`), just before a file is read: a symbolic link inside
  the repository that leads out of it.

Reading outside the repository is the user's choice, never the repository's: ``data:
{allow_outside_repo: true}`` in the user config (:mod:`mlopsctl.spec.userconfig`) or
``MLOPS_DATA_ALLOW_OUTSIDE_REPO=1``.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

FILE_URI = "file://"
OPT_IN = (
    "set 'data: {allow_outside_repo: true}' in ~/.config/mlopsctl/config.yaml, "
    "or MLOPS_DATA_ALLOW_OUTSIDE_REPO=1, to allow it"
)
"""How a user lets paths outside the repository be used (the repository cannot)."""


def without_file_uri(location: str) -> str:
    """``file://data/x.csv`` -> ``data/x.csv``; other text unchanged (the same rule as ``Repo.resolve``)."""
    return location[len(FILE_URI) :] if location.startswith(FILE_URI) else location


def escapes_repository(location: str) -> bool:
    """Whether ``location`` as written leaves the folder it is relative to (absolute, ``~``, or ``..`` above it)."""
    path = without_file_uri(location)
    if path.startswith("~") or os.path.isabs(path):
        return True
    normal = posixpath.normpath(path.replace("\\", "/"))
    return normal == ".." or normal.startswith("../")


def has_parent_step(location: str) -> bool:
    """Whether any part of ``location`` is ``..`` (even one that stays inside)."""
    return ".." in without_file_uri(location).replace("\\", "/").split("/")


def resolved_outside(root: Path, path: Path) -> bool:
    """Whether ``path``, with every symbolic link followed, lies outside ``root``."""
    return not path.resolve().is_relative_to(root.resolve())


def outside_allowed() -> bool:
    """The user's opt-in to data outside the repository (user config or MLOPS_DATA_ALLOW_OUTSIDE_REPO)."""
    # Imported here: its pydantic models cost ~15 ms to build, and every command imports this module
    # (through the spec models) while only a location outside the repository asks.
    from mlopsctl.spec.userconfig import load_user_config

    return load_user_config().data.allow_outside_repo


def shown(location: str, limit: int = 80) -> str:
    """A path from a spec as it reads in a message: quoted, control characters escaped, at most ``limit`` chars."""
    text = location.encode("unicode_escape").decode("ascii")
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"'{text}'"


REMOTE_STORE_SCHEMES = ("oci", "s3")


def remote_scheme(uri: str | None) -> str | None:
    """``oci`` or ``s3`` when ``uri`` names a remote store, else None (a folder or file:// URI)."""
    if not uri or "://" not in uri:
        return None
    scheme = uri.split("://", 1)[0].lower()
    return scheme if scheme in REMOTE_STORE_SCHEMES else None
