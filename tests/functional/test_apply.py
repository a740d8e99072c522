"""``mlopsctl apply`` and ``down`` on the local target, with real service processes.

Each test starts real ``python -m mlopsctl.serve`` processes on free ports and checks what a user
and the process table see: answers from the right versions, the state and endpoints files, the
exact messages of a failed start and of a rollback, the lock, and that a second apply changes
nothing. The kill -9 tests are in ``test_apply_kill.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlopsctl import oplog
from mlopsctl.deploy.api import light_repo
from mlopsctl.deploy.lock import lock_path
from mlopsctl.monitor.targets import Endpoint, deployment_endpoints
from tests.support.apply_repo import (
    ask,
    corrupt_artifact,
    make_repo,
    marked_pids,
    metadata,
    register,
    state,
    stop_everything,
    write_env,
)
from tests.support.handover import started_before_handovers
from tests.support.services import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = make_repo(tmp_path, versions=2)
    yield root
    stop_everything(root)


def apply(cli: Any, root: Path, *args: str) -> Any:
    return cli("apply", "--env", "staging", "--repo", str(root), "--timeout", "90", *args)


def pid_of(root: Path) -> int:
    [instance] = state(root, "staging")["instances"]
    pid: int = instance["pid"]
    return pid


def test_apply_starts_what_git_says_and_a_second_apply_changes_nothing(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    result = apply(cli, repo)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["1 to start, 0 in sync.", f"starting churn v1 on local :{port}"]
    assert lines[2].startswith("  ready in ")
    assert lines[3:5] == [f"started churn v1 on local :{port}", "staging applied: 1 change(s), 1 service(s) running"]
    assert lines[5].startswith(
        f"Try churn: curl -s http://127.0.0.1:{port}/predict -H 'Content-Type: application/json'"
    )
    assert lines[6] == "Health: mlopsctl status --env staging"
    assert ask(port, 3) == {1: 3}
    pid = pid_of(repo)
    assert marked_pids(repo, "staging") == [pid]
    assert lines[2].endswith(f"(process {pid})")
    assert deployment_endpoints(light_repo(repo), "staging") == [
        Endpoint("churn", 1, "stable", "127.0.0.1", port, "staging")
    ]

    again = cli("plan", "--env", "staging", "--repo", str(repo), "--exit-code")
    assert again.code == 0, again.stdout
    assert again.stdout.splitlines()[1:] == [
        f"  = in sync  churn            v1 on local :{port}  (process {pid})",
        "No changes: staging matches Git (1 service in sync).",
    ]
    second = apply(cli, repo, "-o", "json")
    assert second.code == 0, second.stderr
    data = json.loads(second.stdout)
    assert (data["ok"], data["changes"], data["actions"]) == (True, 0, [])
    assert [service["pid"] for service in data["services"]] == [pid]
    assert marked_pids(repo, "staging") == [pid]

    write_env(repo, "staging", {}, base_port=port)
    assert cli("plan", "--env", "staging", "--repo", str(repo)).stdout.splitlines()[1] == (
        f"  - stop     churn            v1 on local :{port}  (not in environments/staging.yaml)"
    )
    stopped = apply(cli, repo)
    assert stopped.code == 0, stopped.stderr
    assert f"stopped churn v1 on local :{port} (not in environments/staging.yaml)" in stopped.stdout.splitlines()
    assert marked_pids(repo) == []
    assert state(repo, "staging")["instances"] == []
    assert deployment_endpoints(light_repo(repo), "staging") == []


def test_a_canary_is_proven_on_a_scratch_port_then_swapped_in(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    assert apply(cli, repo).code == 0
    started_before_handovers(repo, "staging")  # the stop-then-start swap (docker's); takeovers: test_apply_handover.py
    before = pid_of(repo)
    write_env(
        repo, "staging", {"churn": {"version": 1, "strategy": "canary", "candidate": 2, "weight": 20}}, base_port=port
    )
    planned = cli("plan", "--env", "staging", "--repo", str(repo))
    assert planned.stdout.splitlines()[1] == (
        f"  ~ update   churn            v1 -> v1 + v2 canary 20% on local :{port}  "
        "(strategy replace -> canary; candidate none -> v2; weight none -> 20%)"
    )
    operations: list[oplog.Operation] = []
    unsubscribe = oplog.subscribe(operations.append)
    try:
        result = apply(cli, repo)
    finally:
        unsubscribe()
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("starting churn v1 + v2 canary 20% (preflight on scratch port :")
    assert lines[3] == f"stopping churn v1 on local :{port} (process {before}): replaced by v1 + v2 canary 20%"
    assert lines[4] == f"starting churn v1 + v2 canary 20% on local :{port}"
    assert lines[6] == f"updated churn v1 + v2 canary 20% on local :{port} (was v1)"
    after = pid_of(repo)
    assert after != before
    assert marked_pids(repo) == [after]
    served = metadata(port)
    assert (served["version"], served["candidate"]["version"], served["strategy"], served["weight"]) == (
        1,
        2,
        "canary",
        20,
    )
    starts = [op for op in operations if op.kind == "process" and "-m mlopsctl.serve" in op.command]
    stops = [op for op in operations if op.kind == "process" and op.command.startswith("stop process")]
    assert len(starts) == 2 and all(op.ok for op in starts)
    assert [op.command for op in stops][-1] == f"stop process {before} (churn v1 on local :{port})"

    down = cli("down", "--env", "staging", "--repo", str(repo))
    assert down.code == 0, down.stderr
    assert down.stdout.splitlines() == [
        f"stopped churn v1 + v2 canary 20% on local :{port} (process {after})",
        "staging: stopped 1 instance(s); to start again: mlopsctl apply --env staging",
    ]
    assert marked_pids(repo) == []
    assert not (repo / ".mlops" / "deploy" / "staging.json").exists()


def test_a_version_that_never_becomes_ready_leaves_what_served_untouched(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    assert apply(cli, repo).code == 0
    before = pid_of(repo)
    register(repo, 3)
    corrupt_artifact(repo, 3)
    write_env(repo, "staging", {"churn": {"version": 3}}, base_port=port)
    result = apply(cli, repo)
    assert result.code == 1
    error = result.stderr.splitlines()
    assert error[0].startswith(f"error: Apply failed: staging: churn v3 on local :{port} never became ready: process ")
    assert error[0].endswith(" exited with code 1")
    assert error[1] == "hint: fix the version or the environment file; what runs now: mlopsctl plan --env staging"
    assert "last lines of its log (" in result.stdout
    assert "artifact digest mismatch for" in result.stdout
    assert f"churn v1 on local :{port} still serves: nothing was switched" in result.stdout.splitlines()
    assert pid_of(repo) == before
    assert marked_pids(repo) == [before]
    assert ask(port, 2) == {1: 2}
    assert cli("plan", "--env", "staging", "--repo", str(repo), "--exit-code").code == 1


def test_a_switch_that_fails_after_the_preflight_rolls_back(repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    register(repo, 3)
    env = {**os.environ, "MLOPS_APPLY_PAUSE_AT": "preflight-ready"}
    assert _apply_process(repo, {}).wait(timeout=300) == 0
    started_before_handovers(repo, "staging")  # a takeover has no preflight: this is the stop-then-start swap
    write_env(repo, "staging", {"churn": {"version": 3}}, base_port=port)
    paused = _apply_process(repo, env)
    try:
        _wait_for_pause(paused, "preflight-ready")
        corrupt_artifact(repo, 3)  # the preflight passed; the real start will now be refused
        paused.send_signal(signal.SIGUSR1)
        out, _err = paused.communicate(timeout=300)
    finally:
        paused.kill()
    assert paused.returncode == 1
    assert f"rolling back to churn v1 on local :{port}" in out.splitlines()
    assert f"rolled back: churn v1 on local :{port} serves again" in out.splitlines()
    assert f"rolled back to churn v1 on local :{port}" in out.splitlines()
    assert ask(port, 2) == {1: 2}
    assert marked_pids(repo) == [pid_of(repo)]
    assert state(repo, "staging")["instances"][0]["version"] == 1


def test_a_first_start_that_fails_leaves_nothing_running(cli: Any, repo: Path) -> None:
    port = free_port()
    corrupt_artifact(repo, 1)
    write_env(repo, "staging", {"churn": {"version": 1}}, base_port=port)
    result = apply(cli, repo)
    assert result.code == 1
    assert "never became ready" in result.stderr
    assert marked_pids(repo) == []
    assert state(repo, "staging")["instances"] == []
    assert deployment_endpoints(light_repo(repo), "staging") == []


def test_a_missing_artifact_is_named_before_anything_starts(cli: Any, repo: Path) -> None:
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 2}}, base_port=port)
    artifact = corrupt_artifact(repo, 2)
    artifact.unlink()
    result = apply(cli, repo)
    assert result.code == 1
    assert (
        result.stderr.splitlines()[:2]
        == [  # the plan names it: apply refuses before it touches anything
            "error: Refused: apply of staging refused, nothing was touched:",
            f"  the artifact of churn@2 (sha256:{artifact.name[:12]}) is not in the artifact store .mlops/artifacts: "
            "point MLOPS_ARTIFACT_STORE (or artifact_store in mlops.yaml) at the team's store (oci://HOST/NAMESPACE, "
            "s3://BUCKET/PREFIX or a shared folder), or train it here: mlopsctl reproduce churn@2",
        ]
    )
    assert marked_pids(repo) == []


def test_a_second_apply_fails_fast_naming_who_holds_the_lock(cli: Any, repo: Path) -> None:
    write_env(repo, "staging", {}, base_port=free_port())
    path = lock_path(light_repo(repo), "local", "staging")
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        result = apply(cli, repo)
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Locked: another apply or down of staging on the local target is running: pid {holder.pid} since "
        "2024-06-11T10:00:00Z (mlopsctl apply --env staging)",
        f"hint: wait for it to finish, or queue behind it with --wait (lock file: {path})",
    ]
    assert apply(cli, repo).code == 0  # the kernel released the lock with its holder


_HOLD_LOCK = """
import fcntl, json, os, sys, time
handle = open(sys.argv[1], "a+")
fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
handle.write(json.dumps({"pid": os.getpid(), "since": "2024-06-11T10:00:00Z", "command": "mlopsctl apply --env staging"}))
handle.flush()
print("locked", flush=True)
time.sleep(120)
"""


def _apply_process(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlopsctl", "apply", "--env", "staging", "--repo", str(root), "--timeout", "90"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or None,
    )


def _wait_for_pause(process: subprocess.Popen[str], step: str) -> None:
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line.startswith(f"apply paused at {step} (pid {process.pid})"), line + process.stderr.read()


def test_the_specs_shadow_tolerance_reaches_a_service_with_a_candidate(cli: Any, repo: Path) -> None:
    import yaml

    spec_file = repo / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec.setdefault("monitoring", {})["shadow"] = {"tolerance": 0.3}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "shadow tolerance 0.3"], check=True)
    port = free_port()
    write_env(repo, "staging", {"churn": {"version": 1, "strategy": "shadow", "candidate": 2}}, base_port=port)
    result = apply(cli, repo)
    assert result.code == 0, result.stdout + result.stderr
    arguments = Path(f"/proc/{pid_of(repo)}/cmdline").read_bytes().split(b"\0")
    assert arguments[arguments.index(b"--shadow-tolerance") + 1] == b"0.3"
