"""``kill -9`` of ``apply`` at named steps, then ``apply`` again: it converges and leaves no orphan.

Apply runs as a real ``mlopsctl`` process with ``MLOPS_APPLY_PAUSE_AT=<step>``; when it says it
paused there, it gets a real SIGKILL. The process table is then checked (every service process of
the repository is found by its marker), apply runs again, and exactly one service must be left,
the recorded one, answering with the version Git names.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apply_repo import ask, make_repo, marked_pids, state, stop_everything, write_env
from tests.support.handover import started_before_handovers
from tests.support.services import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = make_repo(tmp_path, versions=2)
    yield root
    stop_everything(root)


def apply(cli: Any, root: Path) -> Any:
    return cli("apply", "--env", "staging", "--repo", str(root), "--timeout", "90")


def killed_at(root: Path, step: str) -> None:
    """Run apply in its own process until it pauses at ``step``, then SIGKILL it."""
    env = {**os.environ, "MLOPS_APPLY_PAUSE_AT": step}
    command = [sys.executable, "-m", "mlopsctl", "apply", "--env", "staging", "--repo", str(root), "--timeout", "90"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.startswith(f"apply paused at {step} (pid {process.pid})"), line + process.stderr.read()
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        process.kill()
        process.wait()


def recorded_pids(root: Path) -> list[int]:
    return sorted(instance["pid"] for instance in state(root, "staging")["instances"])


@pytest.mark.parametrize(
    ("step", "alive_after_kill"),
    [
        ("spawned", 2),  # v1 serving + the v2 preflight, not recorded yet: found by its marker
        ("old-stopped", 0),  # preflight done, v1 stopped, v2 not started: nothing answers
        ("ready", 1),  # v2 serving and recorded; the plan was not finished
    ],
)
def test_apply_killed_during_an_update_converges_on_the_next_run(
    cli: Any, repo: Path, step: str, alive_after_kill: int
) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    assert apply(cli, repo).code == 0
    started_before_handovers(repo, "staging")  # the stop-then-start swap; kills mid-takeover: test_apply_handover.py
    write_env(repo, "staging", {"churn": {"version": 2}}, base_port=port)
    killed_at(repo, step)
    assert len(marked_pids(repo)) == alive_after_kill
    result = apply(cli, repo)
    assert result.code == 0, result.stdout + result.stderr
    assert marked_pids(repo) == recorded_pids(repo)
    assert len(marked_pids(repo)) == 1
    assert ask(port, 3) == {2: 3}
    assert cli("plan", "--env", "staging", "--repo", str(repo), "--exit-code").code == 0


def test_a_service_started_by_a_killed_apply_is_adopted_not_restarted(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    killed_at(repo, "spawned")
    [orphan] = marked_pids(repo)
    assert state(repo, "staging")["instances"] == []
    result = apply(cli, repo)
    assert result.code == 0, result.stdout + result.stderr
    assert recorded_pids(repo) == [orphan]
    assert marked_pids(repo) == [orphan]
    assert ask(port, 2) == {1: 2}


def test_down_after_a_killed_apply_stops_the_unrecorded_processes_too(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    assert apply(cli, repo).code == 0
    started_before_handovers(repo, "staging")  # else the new instance takes the port over alone and v1 exits
    write_env(repo, "staging", {"churn": {"version": 1, "strategy": "shadow", "candidate": 2}}, base_port=port)
    killed_at(repo, "spawned")
    assert len(marked_pids(repo)) == 2
    result = cli("down", "--env", "staging", "--repo", str(repo))
    assert result.code == 0, result.stderr
    assert (
        result.stdout.splitlines()[-1] == "staging: stopped 2 instance(s); to start again: mlopsctl apply --env staging"
    )
    assert marked_pids(repo) == []
