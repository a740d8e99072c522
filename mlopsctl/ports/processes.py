"""Local processes: spawn a detached service, look it up in /proc, signal it and reap it.

:func:`spawn` starts a program in its own session (a terminal's Ctrl-C does not reach it), with
stdin closed and its output appended to a log file, in exactly the environment it is given.
:func:`stop` sends SIGTERM, waits, and SIGKILLs after the grace period. Both are recorded in the
operation log (kind ``process``). A process is identified by its pid and start time (field 22 of
``/proc/<pid>/stat``), so a pid that now belongs to another process is recognised as such.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlopsctl import oplog

PROC = Path("/proc")
KIND = "process"
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    start_ticks: int


def proc_stat(pid: int) -> ProcStat | None:
    """State and start time of ``pid`` from /proc, or None when there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return ProcStat(pid=pid, state=fields[0], start_ticks=int(fields[19]))


def reap(pid: int) -> int | None:
    """Collect ``pid``'s exit status if it is our exited child; its exit code, else None."""
    try:
        found, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if found == pid else None


def spawn(argv: list[str], log: Path, environment: dict[str, str]) -> int:
    """Start ``argv`` detached, output appended to ``log``; its pid. Raises OSError, recorded either way."""
    command = " ".join(argv)
    try:
        pid = _spawn(argv, log, environment)
    except OSError as exc:
        oplog.record(KIND, command, False, str(exc))
        raise
    oplog.record(KIND, command, True, f"pid {pid}, log {log}")
    return pid


def stop(pid: int, what: str, gone: Callable[[], bool], grace: float, kill_wait: float) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds; True once ``gone()`` says the process is gone."""
    _signal(pid, signal.SIGTERM)
    if wait_until(gone, grace):
        oplog.record(KIND, what, True)
        return True
    _signal(pid, signal.SIGKILL)
    stopped = wait_until(gone, kill_wait)
    oplog.record(KIND, what + " (killed after the grace period)", stopped)
    return stopped


def wait_until(done: Callable[[], bool], seconds: float) -> bool:
    """Poll ``done`` until it holds or ``seconds`` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def _spawn(argv: list[str], log: Path, environment: dict[str, str]) -> int:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2),
        ]
        return os.posix_spawn(argv[0], argv, environment, file_actions=actions, setsid=True)
    finally:
        os.close(fd)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
