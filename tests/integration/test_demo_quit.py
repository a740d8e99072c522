"""Quitting the dashboard at the end of ``mlopsctl demo`` stops what the demo started (issue 13, item 13).

The demo runs for real in a terminal (tmux): it trains, applies staging as local processes, starts
the traffic replay, closes the retraining loop once (churn@3 proposed on a branch) and opens the
dashboard. ``q`` quits it; the demo then says what it stops, and
the processes (pids from the deploy state and the replay's pid file) are gone from /proc.
``--keep`` leaves them running, as before.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import tmux
from tests.support.demo_run import stop_demo_leftovers
from tests.support.gitops_repo import git

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Started:
    """What the demo started, as it recorded it: the traffic replay's pid, the staging services' pids and port."""

    replay: int
    services: list[int]
    port: int


def started(root: Path) -> Started:
    replay = int((root / ".mlops" / "demo-traffic.pid").read_text())
    instances = json.loads((root / ".mlops" / "deploy" / "staging.json").read_text())["instances"]
    return Started(replay, [int(instance["pid"]) for instance in instances], int(instances[0]["port"]))


def running(pid: int) -> bool:
    """A live process (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def run_demo_in_terminal(root: Path, session: str, *options: str) -> tuple[Started, str]:
    """Run the demo to its dashboard, quit with q: what it started, and the terminal's text once it exited."""
    mlopsctl = Path(sys.executable).with_name("mlopsctl")
    command = f"{mlopsctl} demo --path {root} {' '.join(options)}; echo DEMO-EXIT=$?; sleep 600"
    tmux.start(session, command)
    tmux.wait_for(session, "mlopsctl › models", seconds=420, unless="DEMO-EXIT=")
    tmux.wait_for(session, "churn")
    found = started(root)
    assert [pid for pid in (found.replay, *found.services) if running(pid)] == [found.replay, *found.services]
    tmux.keys(session, "q")
    return found, tmux.wait_for(session, "DEMO-EXIT=", seconds=120, history=True)


def test_quitting_the_demo_dashboard_stops_the_traffic_and_the_services(tmp_path: Path) -> None:
    tmux.require_tmux()
    root = tmp_path / "demo"
    session = f"mlopsctl-demo-{os.getpid()}"
    try:
        demo, output = run_demo_in_terminal(root, session)
        assert "DEMO-EXIT=0" in output, output
        assert "proposed churn@3 for staging" in output  # the loop ran before the dashboard opened
        assert git(root, "rev-parse", "--verify", "promote/churn-3-staging")
        lines = [line.rstrip() for line in output.splitlines()]
        start = lines.index("Stopping what the demo started (mlopsctl demo --keep leaves it running):")
        assert lines[start + 1 : start + 4] == [
            f"  stopped the traffic replay (process {demo.replay})",
            f"  stopped churn v1 + v2 canary 20% on local :{demo.port} (process {demo.services[0]})",
            f"The repository stays in {root}; to serve again: mlopsctl apply --env staging",
        ]
        assert [pid for pid in (demo.replay, *demo.services) if running(pid)] == []
    finally:
        tmux.kill(session)
        stop_demo_leftovers(root)


def test_demo_keep_leaves_them_running(tmp_path: Path) -> None:
    tmux.require_tmux()
    root = tmp_path / "demo"
    session = f"mlopsctl-demo-keep-{os.getpid()}"
    try:
        demo, output = run_demo_in_terminal(root, session, "--keep")
        assert "DEMO-EXIT=0" in output, output
        assert "Stopping what the demo started" not in output
        left = f"Left running (--keep). To stop it: cd {root} && kill {demo.replay} && mlopsctl down --env staging"
        assert left in output
        assert [pid for pid in (demo.replay, *demo.services) if running(pid)] == [demo.replay, *demo.services]
    finally:
        tmux.kill(session)
        stop_demo_leftovers(root)
