"""``apply`` on the docker target with the real engine: images built when missing, labels as state.

One module-scoped repository (three versions from the real trainer, so their images build), whose
``dock`` environment each test sets and takes down again. Checked against the engine itself:
container ids, labels, states, and that nothing is left behind after a failed start or a kill -9.
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

from mlopsctl.deploy.api import down_environment, light_repo
from mlopsctl.spec.loader import open_repo
from mlopsctl.train.api import train_model
from tests.conftest import isolate_git_home
from tests.support.apply_repo import ask, corrupt_artifact, write_env
from tests.support.services import (
    docker_client,
    free_port,
    image_test_repo,
    remove_project_images,
    require_base_image,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ENV = "dock"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_base_image()
    with pytest.MonkeyPatch.context() as patch:
        isolate_git_home(tmp_path_factory, patch)
        base = image_test_repo(
            tmp_path_factory.mktemp("docker") / "repo", "deploy-docker", "Docker tests: local base image, small forest"
        )
        repo = open_repo(base)
        for depth in (8, 4, 6):
            train_model(repo, "churn", overrides=[f"training.params.max_depth={depth}"])
        yield base
        down_environment(light_repo(base), ENV)
        remove_project_images("deploy-docker")


@pytest.fixture
def dock(root: Path) -> Iterator[Path]:
    yield root
    down_environment(light_repo(root), ENV)


def containers(root: Path) -> list[dict[str, Any]]:
    client = docker_client()
    try:
        found: list[dict[str, Any]] = client.api.containers(all=True, filters={"label": [f"dev.mlopsctl.repo={root}"]})
        return found
    finally:
        client.close()


def summary(root: Path) -> list[tuple[str, str, str, str]]:
    return sorted(
        (
            c["State"],
            c["Labels"]["dev.mlopsctl.version"],
            c["Labels"]["dev.mlopsctl.candidate"],
            c["Labels"]["dev.mlopsctl.role"],
        )
        for c in containers(root)
    )


def apply(cli: Any, root: Path) -> Any:
    return cli("apply", "--env", ENV, "--repo", str(root), "--timeout", "180")


def test_apply_builds_runs_and_a_second_apply_keeps_the_same_container(cli: Any, dock: Path) -> None:
    port = free_port()
    write_env(dock, ENV, {"churn": {"version": 1}}, base_port=port, target="docker")
    first = apply(cli, dock)
    assert first.code == 0, first.stdout + first.stderr
    assert f"started churn v1 on docker :{port}" in first.stdout.splitlines()
    [container] = containers(dock)
    labels = container["Labels"]
    assert {
        k: labels[f"dev.mlopsctl.{k}"] for k in ("env", "model", "version", "strategy", "port", "role", "project")
    } == {
        "env": ENV,
        "model": "churn",
        "version": "1",
        "strategy": "replace",
        "port": str(port),
        "role": "service",
        "project": "deploy-docker",
    }
    assert ask(port, 3) == {1: 3}
    second = apply(cli, dock)
    assert second.code == 0, second.stderr
    assert second.stdout.splitlines()[0] == "No changes: dock matches Git (1 service in sync)."
    assert [c["Id"] for c in containers(dock)] == [container["Id"]]
    assert cli("plan", "--env", ENV, "--repo", str(dock), "--exit-code").code == 0


def test_a_candidate_that_never_becomes_ready_leaves_the_container_that_served(cli: Any, dock: Path) -> None:
    port = free_port()
    write_env(dock, ENV, {"churn": {"version": 1}}, base_port=port, target="docker")
    assert apply(cli, dock).code == 0
    [serving] = containers(dock)
    corrupt_artifact(dock, 3)
    write_env(
        dock, ENV, {"churn": {"version": 1, "strategy": "shadow", "candidate": 3}}, base_port=port, target="docker"
    )
    result = apply(cli, dock)
    assert result.code == 1
    assert result.stderr.startswith(
        f"error: Apply failed: {ENV}: churn v1 + v3 shadow on docker :{port} never became ready: container "
    )
    assert "artifact digest mismatch for" in result.stdout
    assert f"churn v1 on docker :{port} still serves: nothing was switched" in result.stdout.splitlines()
    assert [c["Id"] for c in containers(dock)] == [serving["Id"]]
    assert ask(port, 2) == {1: 2}


def test_apply_killed_after_creating_a_container_converges_with_no_container_left_over(cli: Any, dock: Path) -> None:
    port = free_port()
    write_env(dock, ENV, {"churn": {"version": 1}}, base_port=port, target="docker")
    assert apply(cli, dock).code == 0
    write_env(
        dock,
        ENV,
        {"churn": {"version": 1, "strategy": "canary", "candidate": 2, "weight": 30}},
        base_port=port,
        target="docker",
    )
    command = [sys.executable, "-m", "mlopsctl", "apply", "--env", ENV, "--repo", str(dock), "--timeout", "180"]
    env = {**os.environ, "MLOPS_APPLY_PAUSE_AT": "spawned"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.startswith("apply paused at spawned"), line + process.stderr.read()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert summary(dock) == [("running", "1", "", "service"), ("running", "1", "2", "service")]
    result = apply(cli, dock)
    assert result.code == 0, result.stdout + result.stderr
    assert summary(dock) == [("running", "1", "2", "service")]
    answers = ask(port, 100)
    assert set(answers) == {1, 2}
    result = cli("down", "--env", ENV, "--repo", str(dock))
    assert result.code == 0, result.stderr
    assert containers(dock) == []
