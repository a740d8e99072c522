"""Crash-safe file writes: a reader, or a process killed mid-way, sees the old content or the new one.

Also the guard for writes into the state folder: :func:`refuse_links` stops a write that a symbolic
link (committed into the repository, or planted in the state folder) would carry outside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mlopsctl.errors import CheckFailed

UNSAFE_STATE = "Unsafe state folder"


def _temp_beside(path: Path, data: bytes) -> str:
    """A fsynced temporary file holding ``data`` in ``path``'s folder (so a rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place."""
    tmp = _temp_beside(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def create_exclusive(path: Path, data: bytes) -> bool:
    """Atomically create ``path`` with ``data`` unless it exists; returns False when it already did.

    The content is written to a temporary file first and then hard-linked into place, so the final
    name never shows a half-written file and two writers can never both win.
    """
    tmp = _temp_beside(path, data)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def fsync_dir(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable across a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def refuse_links(root: Path, path: Path) -> Path:
    """``path`` unchanged when it lies under ``root`` and no existing part of it below ``root`` is a symbolic link.

    A committed ``.mlops -> /home/me`` or a planted ``.mlops/deploy/logs -> /elsewhere`` would make
    writes land outside the repository, so they are refused before anything is written.
    """
    _inside(root, path)
    link = first_link(root, path)
    if link is not None:
        shown = link.relative_to(root).as_posix()
        raise CheckFailed(
            f"{shown} is a symbolic link: mlopsctl writes its state only into real folders inside the repository",
            title=UNSAFE_STATE,
            hint=f"remove the link (rm {shown}) and run again; mlopsctl creates the folder itself",
        )
    return path


def first_link(root: Path, path: Path) -> Path | None:
    """The first part of ``path`` below ``root`` that is a symbolic link, checked from the root down.

    ``path`` must lie under ``root`` (the callers check that, each with its own words). Plain
    strings and one ``lstat`` per part, since ``plan`` checks hundreds of registry paths this way;
    a part that does not exist yet has no link below it.
    """
    current = os.fspath(root).rstrip(os.sep)
    for part in os.fspath(path)[len(current) + 1 :].split(os.sep):
        current = f"{current}{os.sep}{part}"
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(mode):
            return Path(current)
    return None


def _inside(root: Path, path: Path) -> Path:
    try:
        relative = path.relative_to(root)
    except ValueError:
        relative = None
    if relative is None or ".." in relative.parts:
        raise CheckFailed(
            f"{path} is outside the repository {root}",
            title=UNSAFE_STATE,
            hint="state_dir in mlops.yaml must be a relative path inside the repository, e.g. .mlops",
        )
    return relative


@contextlib.contextmanager
def held_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path`` (created with its folder), released by the kernel if the holder dies.

    The caller has already refused symbolic links on the way to ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
