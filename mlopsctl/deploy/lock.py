"""One apply (or down) at a time per target and environment: ``flock`` on a file in the state folder.

The kernel releases the lock when its holder dies, ``kill -9`` included, so a crash never leaves a
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
from mlopsctl.errors import ConflictError
from mlopsctl.spec.loader import Repo


def lock_path(repo: Repo, target: str, env: str) -> Path:
    return repo.state_dir / "locks" / f"deploy-{target}-{env}.lock"


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
    with path.open("a+") as handle:
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
