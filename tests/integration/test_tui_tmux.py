"""One smoke test in a real terminal: tmux runs mlopsctl on a demo repo, keys navigate, the screen shows models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.services import missing_service
from tests.support.tui_repo import build_tui_repo


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def _alive(session: str) -> bool:
    found = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True, check=False)
    return found.returncode == 0


def wait_for(session: str, text: str, seconds: float = 60.0) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared on the screen:\n{screen}")


@pytest.mark.slow
def test_dashboard_in_a_real_terminal(tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        missing_service("tmux is not installed (scripts/services.sh installs it)")
    root = build_tui_repo(tmp_path / "repo", models=2)
    session = f"mlopsctl-{os.getpid()}"
    mlopsctl = Path(sys.executable).with_name("mlopsctl")
    command = f"cd {root} && {mlopsctl if mlopsctl.exists() else 'mlopsctl'}"
    tmux("new-session", "-d", "-s", session, "-x", "140", "-y", "40", command)
    try:
        screen = wait_for(session, "churn-2")
        assert "MODEL" in screen and "STAGING" in screen and "v1" in screen
        tmux("send-keys", "-t", session, "Enter")
        screen = wait_for(session, "Versions")
        assert "mlopsctl › models › churn" in screen
        tmux("send-keys", "-t", session, ":")
        wait_for(session, "command (models")
        tmux("send-keys", "-t", session, "history", "Enter")
        wait_for(session, "promote")
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(session):
            time.sleep(0.2)
        assert not _alive(session), "q did not quit the dashboard"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
