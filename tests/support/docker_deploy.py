"""Helpers for the docker target's swap and prediction-log tests (no tests here).

A repository whose versions come from the real trainer (so their images build offline from the
local base image), the containers the engine holds for it, and an apply run as a real process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.deploy.api import down_environment, light_repo
from mlopsctl.registry.store import artifact_store_for
from mlopsctl.spec.loader import open_repo
from mlopsctl.train.api import train_model
from tests.conftest import CliResult, isolate_git_home, run_cli_process
from tests.support.apply_repo import corrupt_artifact
from tests.support.services import docker_client, image_test_repo, remove_project_images, require_base_image

ENV = "dock"
APPLY_TIMEOUT = "180"


def trained_repo(
    factory: pytest.TempPathFactory, project: str, depths: tuple[int, ...], env: str = ENV
) -> Iterator[Path]:
    """A committed repository with one churn version per depth; its containers and images go afterwards."""
    require_base_image()
    with pytest.MonkeyPatch.context() as patch:
        isolate_git_home(factory, patch)
        base = image_test_repo(factory.mktemp(project) / "repo", project, f"{project}: local base image")
        repo = open_repo(base)
        for depth in depths:
            train_model(repo, "churn", overrides=[f"training.params.max_depth={depth}"])
        try:
            yield base
        finally:
            down_environment(light_repo(base), env)
            remove_project_images(project)


def containers(root: Path) -> list[dict[str, Any]]:
    """Every container the engine holds for this repository (running or not)."""
    client = docker_client()
    try:
        found: list[dict[str, Any]] = client.api.containers(all=True, filters={"label": [f"dev.mlopsctl.repo={root}"]})
        return found
    finally:
        client.close()


def restart_policy(container: str) -> str:
    """The restart policy the engine holds for ``container`` (``no``, ``unless-stopped``)."""
    client = docker_client()
    try:
        return str(client.api.inspect_container(container)["HostConfig"]["RestartPolicy"]["Name"])
    finally:
        client.close()


def apply_process(root: Path, env: str = ENV) -> CliResult:
    """``mlopsctl apply`` as a real process (the load runs in this one)."""
    return run_cli_process("apply", "--env", env, "--repo", str(root), "--timeout", APPLY_TIMEOUT)


def corrupted(root: Path, version: int) -> None:
    """churn@version's artifact changed in the store (the service refuses its digest), once per repository:
    :func:`tests.support.apply_repo.corrupt_artifact` flips a byte, so a second call would mend it."""
    record = yaml.safe_load((root / "registry" / "churn" / f"v{version}.yaml").read_text())
    path = artifact_store_for(open_repo(root)).path_for(record["artifact"]["sha256"])
    if hashlib.sha256(path.read_bytes()).hexdigest() == record["artifact"]["sha256"]:
        corrupt_artifact(root, version)
