"""Where registry files live, and the checks that keep reads and writes inside the repository.

A commit can add a symbolic link as easily as a file: ``registry/churn -> /etc`` would make
``train`` write, and ``registry show`` read, outside the repository. Every registry path is
built here and refused when any part of it below the repository root is a link. Version numbers
are capped (:data:`mlopsctl.contract.versions.MAX_VERSION`), so a file name with thousands of
digits is refused instead of turned into a huge integer. Kept free of heavy imports: ``history``
uses it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mlopsctl.contract.versions import VERSION_TEXT
from mlopsctl.errors import PolicyRefused
from mlopsctl.fsio import first_link

RECORD_NAME = re.compile(rf"^v({VERSION_TEXT})\.yaml$")
MODEL_FOLDER = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def registry_dir(root: Path, model: str) -> Path:
    """``registry/<model>``, refused when it (or ``registry``) is a symbolic link."""
    folder = root / "registry" / model
    refuse_links(root, folder)
    return folder


def record_path(root: Path, model: str, version: int) -> Path:
    """``registry/<model>/v<N>.yaml``, refused when any part of it is a symbolic link."""
    path = root / "registry" / model / f"v{version}.yaml"
    refuse_links(root, path)
    return path


def archive_path(root: Path, model: str) -> Path:
    path = root / "registry" / model / "archived.yaml"
    refuse_links(root, path)
    return path


def refuse_links(root: Path, path: Path) -> None:
    """Refuse ``path`` when a part of it below ``root`` is a symbolic link or it leaves ``root``.

    One ``lstat`` per part (:func:`mlopsctl.fsio.first_link`): ``plan`` checks hundreds of records this way.
    """
    base, target = os.fspath(root).rstrip(os.sep), os.fspath(path)
    parts = target[len(base) + 1 :].split(os.sep)
    if not target.startswith(base + os.sep) or any(part in ("", ".", "..") for part in parts):
        raise _outside(root, path)
    link = first_link(root, path)
    if link is not None:
        raise _link(root, link)


def _link(root: Path, link: Path) -> PolicyRefused:
    relative = link.relative_to(root).as_posix()
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return PolicyRefused(
        f"{relative} is a symbolic link (to {target}); mlopsctl never reads or writes the registry through a link",
        title="Symbolic link refused",
        hint=f"replace the link with a real folder or file: git rm {relative}",
    )


def _outside(root: Path, path: Path) -> PolicyRefused:
    return PolicyRefused(f"{path} is outside the repository {root}", title="Path refused")


def version_numbers(root: Path, model: str) -> list[int]:
    """Registered version numbers of ``model``, ascending, read from file names only (fast)."""
    folder = registry_dir(root, model)
    if not folder.is_dir():
        return []
    found = (RECORD_NAME.match(entry.name) for entry in folder.iterdir())
    return sorted(int(match[1]) for match in found if match)
