"""Zero-downtime swaps on the docker target: ``apply`` replaces a container on its port under load.

The new container takes the listening socket from the old one through the environment's handover
folder, bind-mounted into both (:mod:`mlopsctl.deploy.containers`). A steady load
(:mod:`tests.support.steady_load`: one keep-alive client, one opening a connection per request)
runs on the port during the real ``mlopsctl apply``: not one request may be refused, reset or
answered 5xx, whether the new version takes over or never becomes ready. One module-scoped
repository (images built once per version), whose ``dock`` environment each test takes down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlopsctl.build.api import HANDOVER_LABEL
from mlopsctl.deploy.api import down_environment, light_repo
from tests.conftest import run_cli_process
from tests.support.apply_repo import ask, state, write_env
from tests.support.docker_deploy import ENV, apply_process, containers, corrupted, restart_policy, trained_repo
from tests.support.docker_tcp import engine_over_tcp
from tests.support.services import docker_client, free_port
from tests.support.steady_load import SteadyLoad

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from trained_repo(tmp_path_factory, "docker-handover", (8, 4, 6))


@pytest.fixture
def dock(root: Path) -> Iterator[Path]:
    yield root
    down_environment(light_repo(root), ENV)


def one_line(text: str) -> str:
    return " ".join(text.split())


def serving(root: Path, deployment: dict[str, object]) -> tuple[int, str]:
    """Apply ``deployment`` of churn on a free port: (the port, its container's id)."""
    port = free_port()
    write_env(root, ENV, {"churn": deployment}, base_port=port, target="docker")
    started = apply_process(root)
    assert started.code == 0, started.stdout + started.stderr
    [container] = containers(root)
    return port, str(container["Id"])


def test_a_container_swap_on_the_same_port_under_load_refuses_nothing(dock: Path) -> None:
    port, before = serving(dock, {"version": 1})
    write_env(dock, ENV, {"churn": {"version": 2}}, base_port=port, target="docker")
    with SteadyLoad(port) as load:
        assert load.wait_for(load.answered(1, 5))
        result = apply_process(dock)
        assert result.code == 0, result.stdout + result.stderr
        assert load.wait_for(load.answered(2, 5))
    [after] = containers(dock)
    lines = result.stdout.splitlines()
    assert f"starting churn v2 on docker :{port}, taking the port over from container {before[:12]}" in lines
    assert f"stopping churn v1 on docker :{port} (container {before[:12]}): replaced by v2" in lines
    assert f"updated churn v2 on docker :{port} (was v1)" in lines
    assert not any("stop-then-start" in line for line in lines)
    assert load.errors == {}
    assert set(load.statuses) == {200}
    for seen in (load.keep_alive.versions, load.fresh.versions):
        assert (seen[0], seen[-1], set(seen)) == (1, 2, {1, 2})
    assert (after["State"], after["Labels"]["dev.mlopsctl.version"]) == ("running", "2")
    assert restart_policy(after["Id"]) == "unless-stopped"
    handover = dock / ".mlops" / "deploy" / "handover" / ENV
    assert sorted(p.name for p in handover.iterdir()) == [f"{after['Labels']['dev.mlopsctl.instance']}.sock"]
    planned = apply_process(dock)
    assert planned.stdout.splitlines()[0] == "No changes: dock matches Git (1 service in sync)."


def test_a_container_that_never_becomes_ready_leaves_the_old_one_serving_under_load(dock: Path) -> None:
    port, before = serving(dock, {"version": 1})
    corrupted(dock, 3)
    shadow = {"churn": {"version": 1, "strategy": "shadow", "candidate": 3}}
    write_env(dock, ENV, shadow, base_port=port, target="docker")
    with SteadyLoad(port) as load:
        assert load.wait_for(load.answered(1, 5))
        result = apply_process(dock)
        answers = len(load.keep_alive.versions)
        assert load.wait_for(lambda: len(load.keep_alive.versions) >= answers + 5)
    assert result.code == 1
    assert result.stderr.startswith(
        f"error: Apply failed: {ENV}: churn v1 + v3 shadow on docker :{port} never became ready: container "
    )
    lines = result.stdout.splitlines()
    assert (
        f"starting churn v1 + v3 shadow on docker :{port}, taking the port over from container {before[:12]}" in lines
    )
    assert "artifact digest mismatch for" in result.stdout
    assert f"churn v1 on docker :{port} still serves: nothing was switched" in result.stdout.splitlines()
    assert load.errors == {}
    assert set(load.statuses) == {200}
    assert set(load.keep_alive.versions) == set(load.fresh.versions) == {1}
    assert [c["Id"] for c in containers(dock)] == [before]
    assert restart_policy(before) == "unless-stopped"  # given back after the failed takeover


def killed_at(root: Path, step: str) -> None:
    """Run apply until it pauses at ``step``, then SIGKILL it."""
    env = {**os.environ, "MLOPS_APPLY_PAUSE_AT": step}
    command = [sys.executable, "-m", "mlopsctl", "apply", "--env", ENV, "--repo", str(root), "--timeout", "180"]
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
    ("step", "after", "label"),
    [
        # recorded, loading or taking the port over on its own
        ("handing-over", {"version": 2}, ("2", "")),
        # not recorded yet; the old one answers ready for it (same stable version), so it looks in sync
        ("spawned", {"version": 1, "strategy": "canary", "candidate": 2, "weight": 30}, ("1", "2")),
    ],
)
def test_apply_killed_during_a_container_handover_leaves_a_serving_port_and_converges(
    dock: Path, step: str, after: dict[str, object], label: tuple[str, str]
) -> None:
    port, before = serving(dock, {"version": 1})
    write_env(dock, ENV, {"churn": after}, base_port=port, target="docker")
    with SteadyLoad(port) as load:
        assert load.wait_for(load.answered(1, 5))
        killed_at(dock, step)
        assert len(state(dock, ENV)["instances"]) == (2 if step == "handing-over" else 1)
        result = apply_process(dock)
        assert result.code == 0, result.stdout + result.stderr
        assert load.wait_for(load.answered(2, 5))
    assert load.errors == {}, result.stdout
    assert set(load.statuses) == {200}
    [now] = containers(dock)
    assert now["Id"] != before
    labels = now["Labels"]
    assert (now["State"], labels["dev.mlopsctl.version"], labels["dev.mlopsctl.candidate"]) == ("running", *label)
    assert [i["container"] for i in state(dock, ENV)["instances"]] == [now["Id"]]
    assert run_cli_process("plan", "--env", ENV, "--repo", str(dock), "--exit-code").code == 0


def test_a_remote_engine_swaps_by_stop_then_start_and_says_why(dock: Path) -> None:
    with engine_over_tcp() as address:
        remote = {**os.environ, "DOCKER_HOST": address}
        port = free_port()
        write_env(dock, ENV, {"churn": {"version": 1}}, base_port=port, target="docker")
        first = run_cli_process("apply", "--env", ENV, "--repo", str(dock), "--timeout", "180", env=remote)
        assert first.code == 0, first.stdout + first.stderr
        [before] = containers(dock)
        write_env(dock, ENV, {"churn": {"version": 2}}, base_port=port, target="docker")
        planned = run_cli_process("plan", "--env", ENV, "--repo", str(dock), env=remote)
        assert planned.code == 0, planned.stdout + planned.stderr
        assert (
            f"Note: the Docker engine at {address} is not on this machine: a container replaced on its port "
            "stops before the new one starts (the port does not answer in between), and containers log no answers"
        ) in one_line(planned.stdout)
        second = run_cli_process("apply", "--env", ENV, "--repo", str(dock), "--timeout", "180", env=remote)
        assert second.code == 0, second.stdout + second.stderr
    reason = (
        f"the Docker engine at {address} is not on this machine "
        "(the containers would need a folder on this machine to hand the port over)"
    )
    said, saying = one_line(first.stdout), one_line(second.stdout)  # long lines wrap at the terminal's width
    assert f"{port} its answers are not logged (serving.prediction_log): {reason} " in said
    assert f"replacing churn v1 on docker :{port} by stop-then-start (a gap on the port): {reason} " in saying
    assert f"stopping churn v1 on docker :{port} (container {before['Id'][:12]}): replaced by v2" in saying
    assert "its answers are not logged" not in saying  # said once, with the swap
    [after] = containers(dock)
    assert (after["State"], after["Labels"]["dev.mlopsctl.version"]) == ("running", "2")
    assert list((dock / ".mlops" / "deploy" / "handover" / ENV).glob("*.sock")) == []


def without_handover_label(root: Path, version: int) -> str:
    """Re-tag churn v<version>'s image as one built before handovers (its label emptied); the reference."""
    reference = f"docker-handover/churn:v{version}"
    built = run_cli_process("build", f"churn@{version}", "--repo", str(root))
    assert built.code == 0, built.stdout + built.stderr
    client = docker_client()
    try:
        scratch = client.api.create_container(reference)
        try:
            client.api.commit(
                scratch["Id"],
                repository=reference.split(":")[0],
                tag=f"v{version}",
                changes=[f'LABEL {HANDOVER_LABEL}=""'],
            )
        finally:
            client.api.remove_container(scratch["Id"], force=True)
    finally:
        client.close()
    return reference


def test_an_image_built_before_handovers_is_swapped_by_stop_then_start_and_says_why(dock: Path) -> None:
    port, before = serving(dock, {"version": 1})
    reference = without_handover_label(dock, 2)
    write_env(dock, ENV, {"churn": {"version": 2}}, base_port=port, target="docker")
    result = apply_process(dock)
    assert result.code == 0, result.stdout + result.stderr
    reason = (
        f"the image {reference} was built without handover support (no label {HANDOVER_LABEL}); "
        "rebuild it with this mlopsctl: mlopsctl build churn@2"
    )
    said = one_line(result.stdout)
    assert f"replacing churn v1 on docker :{port} by stop-then-start (a gap on the port): {reason} " in said
    assert f"stopping churn v1 on docker :{port} (container {before[:12]}): replaced by v2" in said
    assert "its answers are not logged" not in said  # said once, with the swap
    [after] = containers(dock)
    assert (after["State"], after["Labels"]["dev.mlopsctl.version"]) == ("running", "2")


def test_an_interrupted_takeover_that_failed_gives_the_old_container_its_restart_policy_back(dock: Path) -> None:
    port, before = serving(dock, {"version": 1})
    corrupted(dock, 3)
    shadow = {"churn": {"version": 1, "strategy": "shadow", "candidate": 3}}
    write_env(dock, ENV, shadow, base_port=port, target="docker")
    killed_at(dock, "handing-over")  # v1 released (restart=no), its successor loading a version it refuses
    assert restart_policy(before) == "no"
    write_env(dock, ENV, {"churn": {"version": 1}}, base_port=port, target="docker")  # the change is reverted
    result = apply_process(dock)
    assert result.code == 0, result.stdout + result.stderr
    assert [c["Id"] for c in containers(dock)] == [before]
    assert restart_policy(before) == "unless-stopped"
    assert ask(port, 3) == {1: 3}
