"""One apply (or down) at a time per target and environment: ``flock`` on a file in the state folder.

The lock file is opened without following a symbolic link, and no part of its folder may be one
(a planted link would otherwise truncate a file outside the repository). The kernel releases the
lock when its holder dies, ``kill -9`` included, so a crash never leaves a
stale lock. The holder writes its pid, start time and command into the lock file, so a second apply
that finds the lock taken can say who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from mlopsctl.deploy.state import now
from mlopsctl.errors import CheckFailed, ConflictError
from mlopsctl.fsio import UNSAFE_STATE, refuse_links
from mlopsctl.spec.environments import check_environment_name
from mlopsctl.spec.loader import Repo


def lock_path(repo: Repo, target: str, env: str) -> Path:
    check_environment_name(env)
    return refuse_links(repo.root, repo.state_dir / "locks" / f"deploy-{target}-{env}.lock")


@contextlib.contextmanager
def deploy_locks(repo: Repo, env: str, targets: Iterable[str], *, wait: bool = False) -> Iterator[None]:
    """Hold the lock of every (target, env); in sorted order, so two holders never deadlock."""
    with contextlib.ExitStack() as stack:
        for target in sorted(set(targets)):
            stack.enter_context(_locked(lock_path(repo, target, env), target, env, wait))
        yield


@contextlib.contextmanager
def _locked(path: Path, target: str, env: str, wait: bool) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_lock(path) as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise _held(path, target, env) from None
        _write_holder(handle)
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _open_lock(path: Path) -> IO[str]:
    """``path`` for reading and appending, created when missing; a symbolic link there is refused."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if not path.is_symlink():
            raise
        raise CheckFailed(
            f"{path} is a symbolic link: mlopsctl writes its state only into real files inside the repository",
            title=UNSAFE_STATE,
            hint=f"remove the link (rm {path}) and run again",
        ) from exc
    return os.fdopen(fd, "a+")


def _write_holder(handle: IO[str]) -> None:
    handle.seek(0)
    handle.truncate(0)
    command = " ".join(["mlopsctl", *sys.argv[1:]]) if sys.argv and "mlopsctl" in sys.argv[0] else "mlopsctl"
    handle.write(json.dumps({"pid": os.getpid(), "since": now(), "command": command}))
    handle.flush()


def _held(path: Path, target: str, env: str) -> ConflictError:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    who = f"pid {holder['pid']}" if "pid" in holder else "another process"
    since = f" since {holder['since']}" if "since" in holder else ""
    command = f" ({holder['command']})" if holder.get("command") else ""
    return ConflictError(
        f"another apply or down of {env} on the {target} target is running: {who}{since}{command}",
        title="Locked",
        hint=f"wait for it to finish, or queue behind it with --wait (lock file: {path})",
    )
