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

    Plain strings and one ``lstat`` per part: ``plan`` checks hundreds of records this way.
    """
    base, target = os.fspath(root), os.fspath(path)
    if not target.startswith(base.rstrip(os.sep) + os.sep):
        raise _outside(root, path)
    current = base.rstrip(os.sep)
    for part in target[len(current) + 1 :].split(os.sep):
        if part in ("", ".", ".."):
            raise _outside(root, path)
        current = f"{current}{os.sep}{part}"
        if os.path.islink(current):
            raise _link(root, Path(current))


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
