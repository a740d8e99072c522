"""Where a service waits for its successor, and waiting until the successor holds the port.

Every service that apply starts on the local target listens at a handover socket of its own,
``<state_dir>/deploy/handover/<env>/<instance id>.sock``; so does a container on the docker target
when the engine runs on this machine (the folder is bind-mounted into it at
``/run/mlopsctl-handover``, :mod:`mlopsctl.deploy.containers`). To replace it on the same port,
apply starts the new version with ``--take-over <that path>``: the new process loads, takes the
listening socket from the old one and binds its own handover socket, which is how apply (and a
later apply, after a kill) sees that it holds the port. The mechanism and why it loses no
connection is in :mod:`mlopsctl.serve.handover`.
"""

from __future__ import annotations

import contextlib
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path

from mlopsctl.fsio import refuse_links
from mlopsctl.spec.environments import check_environment_name
from mlopsctl.spec.loader import Repo

POLL_SECONDS = 0.05
INSTANCE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def handover_path(repo: Repo, env: str, instance_id: str) -> Path | None:
    """The handover socket of one instance (checked: no link on the way), or None for an id that is no name."""
    if INSTANCE_ID.fullmatch(instance_id) is None:
        return None  # an id read from a state file that could have been planted never becomes a path
    check_environment_name(env)
    return refuse_links(repo.root, repo.state_dir / "deploy" / "handover" / env / f"{instance_id}.sock")


def is_socket(path: Path | None) -> bool:
    try:
        return path is not None and stat.S_ISSOCK(path.lstat().st_mode)
    except OSError:
        return False


def remove_left_socket(repo: Repo, env: str, instance_id: str) -> None:
    """The socket file a killed instance left behind (a graceful stop removes its own)."""
    path = handover_path(repo, env, instance_id)
    if path is not None and is_socket(path):
        with contextlib.suppress(OSError):
            path.unlink()


def wait_holding(holds: Callable[[], bool], gone: Callable[[], str | None], timeout: float) -> str | None:
    """Poll until ``holds()``; None, or why not (the process is gone, or the time is up)."""
    deadline = time.monotonic() + timeout
    while not holds():
        problem = gone()
        if problem is not None:
            return problem
        if time.monotonic() >= deadline:
            return f"it did not take the port over within {timeout:g} s"
        time.sleep(POLL_SECONDS)
    return None
