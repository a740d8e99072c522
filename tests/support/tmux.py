"""A real terminal for tests: a detached tmux session running one shell command, read as text."""

from __future__ import annotations

import shutil
import subprocess
import time

from tests.support.services import missing_service


def require_tmux() -> None:
    if shutil.which("tmux") is None:
        missing_service("tmux is not installed (scripts/services.sh installs it)")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def start(session: str, command: str, *, width: int = 140, height: int = 40) -> None:
    tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), command)


def screen(session: str, *, history: bool = False) -> str:
    """What the pane shows (``history``: with everything scrolled off the top)."""
    return tmux("capture-pane", "-p", "-J", "-t", session, *(["-S", "-"] if history else []))


def wait_for(
    session: str, text: str, seconds: float = 60.0, *, history: bool = False, unless: str | None = None
) -> str:
    """The screen once it shows ``text``; fails after ``seconds``, or as soon as ``unless`` shows instead."""
    deadline = time.monotonic() + seconds
    shown = ""
    while time.monotonic() < deadline:
        shown = screen(session, history=history)
        if text in shown:
            return shown
        if unless is not None and unless in shown:
            raise AssertionError(f"{unless!r} appeared before {text!r}:\n{screen(session, history=True)}")
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared on the screen:\n{shown}")


def keys(session: str, *pressed: str) -> None:
    tmux("send-keys", "-t", session, *pressed)


def kill(session: str) -> None:
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
