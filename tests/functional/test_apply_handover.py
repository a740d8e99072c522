"""Zero-downtime swaps on the local target: ``apply`` replaces a version on its port under load.

A steady load (:mod:`tests.support.steady_load`: one keep-alive client, one client opening a new
connection per request) runs on the port for the whole ``apply``, which runs as a real
``mlopsctl`` process. Not one request may be refused, reset or answered 5xx, whether the new
version takes over, never becomes ready, or ``apply`` is killed with SIGKILL in the middle of the
handover. Answers name the version that gave them, so the switch from v1 to v2 is seen.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult, run_cli_process
from tests.support.apply_repo import (
    corrupt_artifact,
    make_repo,
    marked_pids,
    metadata,
    register,
    state,
    stop_everything,
    write_env,
)
from tests.support.handover import handover_sockets
from tests.support.services import free_port
from tests.support.steady_load import SteadyLoad

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = make_repo(tmp_path, versions=2)
    yield root
    stop_everything(root)


def apply(root: Path) -> CliResult:
    return run_cli_process("apply", "--env", "staging", "--repo", str(root), "--timeout", "90")


def plan_code(root: Path) -> int:
    return run_cli_process("plan", "--env", "staging", "--repo", str(root), "--exit-code").code


def pid_of(root: Path) -> int:
    [instance] = state(root, "staging")["instances"]
    pid: int = instance["pid"]
    return pid


def serving_v1(root: Path) -> int:
    port = free_port()
    write_env(root, "staging", {"churn": {"version": 1}}, base_port=port)
    started = apply(root)
    assert started.code == 0, started.stdout + started.stderr
    return port


def test_a_swap_on_the_same_port_under_load_refuses_nothing(repo: Path) -> None:
    port = serving_v1(repo)
    before = pid_of(repo)
    write_env(repo, "staging", {"churn": {"version": 2}}, base_port=port)
    with SteadyLoad(port) as load:
        assert load.wait_for(load.answered(1, 5))
        result = apply(repo)
        assert result.code == 0, result.stdout + result.stderr
        assert load.wait_for(load.answered(2, 5))
    after = pid_of(repo)
    lines = result.stdout.splitlines()
    assert lines[1] == f"starting churn v2 on local :{port}, taking the port over from process {before}"
    assert lines[2].startswith("  ready in ") and lines[2].endswith(f"(process {after})")
    assert lines[3] == f"stopping churn v1 on local :{port} (process {before}): replaced by v2"
    assert lines[4] == f"updated churn v2 on local :{port} (was v1)"
    assert load.errors == {}
    assert set(load.statuses) == {200}
    for seen in (load.keep_alive.versions, load.fresh.versions):
        # both accept from the one queue for a moment (until v1 hears ACCEPTING), so answers may mix there
        assert (seen[0], seen[-1], set(seen)) == (1, 2, {1, 2})
    assert marked_pids(repo) == [after]
    assert plan_code(repo) == 0
    assert handover_sockets(repo, "staging") == [
        repo / ".mlops" / "deploy" / "handover" / "staging" / f"{state(repo, 'staging')['instances'][0]['id']}.sock"
    ]
    assert run_cli_process("down", "--env", "staging", "--repo", str(repo)).code == 0
    assert list((repo / ".mlops" / "deploy" / "handover" / "staging").iterdir()) == []  # each removed its own


def test_a_canary_beside_the_same_stable_version_waits_for_the_takeover(repo: Path) -> None:
    """v1 -> v1 + v2 canary: v1 answers ready as the new spec's stable too, so only the takeover says ready."""
    port = serving_v1(repo)
    before = pid_of(repo)
    canary = {"churn": {"version": 1, "strategy": "canary", "candidate": 2, "weight": 50}}
    write_env(repo, "staging", canary, base_port=port)
    with SteadyLoad(port) as load:
        assert load.wait_for(load.answered(1, 5))
        result = apply(repo)
        assert result.code == 0, result.stdout + result.stderr
        assert load.wait_for(load.answered(2, 5))
    lines = result.stdout.splitlines()
    assert lines[1] == f"starting churn v1 + v2 canary 50% on local :{port}, taking the port over from process {before}"
    assert lines[3] == f"stopping churn v1 on local :{port} (process {before}): replaced by v1 + v2 canary 50%"
    assert lines[4] == f"updated churn v1 + v2 canary 50% on local :{port} (was v1)"
    assert load.errors == {}
    assert set(load.statuses) == {200}
    assert metadata(port)["candidate"]["version"] == 2
    assert marked_pids(repo) == [pid_of(repo)] != [before]


def test_a_version_that_never_becomes_ready_leaves_the_old_one_serving_under_load(repo: Path) -> None:
    port = serving_v1(repo)
    before = pid_of(repo)
    register(repo, 3)
    corrupt_artifact(repo, 3)
    write_env(repo, "staging", {"churn": {"version": 3}}, base_port=port)
    with SteadyLoad(port) as load:
        assert load.wait_for(load.answered(1, 5))
        result = apply(repo)
        answers = len(load.keep_alive.versions)
        assert load.wait_for(lambda: len(load.keep_alive.versions) >= answers + 5)
    assert result.code == 1
    error = result.stderr.splitlines()
    assert error[0].startswith(f"error: Apply failed: staging: churn v3 on local :{port} never became ready: process ")
    assert error[0].endswith(" exited with code 1")
    assert f"churn v1 on local :{port} still serves: nothing was switched" in result.stdout.splitlines()
    assert "artifact digest mismatch for" in result.stdout
    assert load.errors == {}
    assert set(load.statuses) == {200}
    assert set(load.keep_alive.versions) == set(load.fresh.versions) == {1}
    assert marked_pids(repo) == [before] == [pid_of(repo)]
    assert plan_code(repo) == 1


def killed_at(root: Path, step: str) -> None:
    """Run apply until it pauses at ``step``, then SIGKILL it."""
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


@pytest.mark.parametrize(
    ("step", "recorded"),
    [
        ("spawned", 1),  # the new instance started, not recorded yet: found by its marker
        ("handing-over", 2),  # recorded, loading or taking the port over on its own
    ],
)
def test_apply_killed_during_the_handover_leaves_a_serving_port_and_converges(
    repo: Path, step: str, recorded: int
) -> None:
    port = serving_v1(repo)
    before = pid_of(repo)
    write_env(repo, "staging", {"churn": {"version": 2}}, base_port=port)
    with SteadyLoad(port) as load:
        assert load.wait_for(load.answered(1, 5))
        killed_at(repo, step)
        assert len(state(repo, "staging")["instances"]) == recorded
        answers = len(load.fresh.versions)
        assert load.wait_for(lambda: len(load.fresh.versions) >= answers + 5)  # the port still answers
        result = apply(repo)
        assert result.code == 0, result.stdout + result.stderr
        assert load.wait_for(load.answered(2, 5))
    assert load.errors == {}, result.stdout
    assert set(load.statuses) == {200}
    assert marked_pids(repo) == [pid_of(repo)]
    assert before not in marked_pids(repo)
    assert state(repo, "staging")["instances"][0]["version"] == 2
    assert plan_code(repo) == 0
