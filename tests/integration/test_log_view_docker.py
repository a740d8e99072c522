"""The Log view shows the Docker engine calls of an apply to the docker target started from the
dashboard, next to the git operations of the train and the promotion before it (issue 12: every
port records its calls; the local-target variant is tests/functional/test_log_view.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import RichLog

from mlopsctl.deploy.api import down_environment, light_repo
from tests.support.apply_repo import write_env
from tests.support.dashboard import SIZE, make_app, train_promote_apply
from tests.support.services import free_port, image_test_repo, remove_project_images, require_base_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ENV = "dock"
PROJECT = "logview-docker"
ENTRY = re.compile(r"^\d\d:\d\d:\d\d [✓✗] (\w+) +(.*)$")


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    require_base_image()
    root = image_test_repo(tmp_path / "repo", PROJECT, "Docker log view: local base image, small forest")
    write_env(root, ENV, {}, base_port=free_port(), target="docker")
    yield root
    down_environment(light_repo(root), ENV)
    remove_project_images(PROJECT)


async def test_an_apply_to_the_docker_target_shows_its_engine_calls_in_the_log_view(repo: Path) -> None:
    app = make_app(repo)
    async with app.run_test(size=SIZE) as pilot:
        await train_promote_apply(app, pilot, ENV)  # the apply builds the image (no registry here)
        lines = [strip.text for strip in app.screen.query_one("#log", RichLog).lines]
    entries = [found.groups() for line in lines if (found := ENTRY.match(line))]
    docker = [command for kind, command in entries if kind == "docker"]
    assert {"git", "docker"} <= {kind for kind, _ in entries}, lines
    assert any(command.startswith("docker build") for command in docker), docker
    assert any(command.startswith("docker create --name") for command in docker), docker
    assert any(command.startswith("docker start") for command in docker), docker
    assert any(command.startswith("git commit-tree") for kind, command in entries if kind == "git")
