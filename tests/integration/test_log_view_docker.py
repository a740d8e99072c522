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
from mlopsctl.tui.modals import ConfirmModal, PromoteModal
from tests.support.apply_repo import write_env
from tests.support.dashboard import SIZE, make_app, open_model
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
        await pilot.pause()
        await pilot.press("t")  # train churn@1
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("escape")
        await open_model(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, PromoteModal)
        modal.query_one("#env").value = ENV  # type: ignore[attr-defined]
        modal.query_one("#direct").value = True  # type: ignore[attr-defined]
        await pilot.pause()
        await pilot.click("#confirm")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("colon", *f"env {ENV}", "enter")
        await pilot.pause()
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.click("#confirm")
        await app.workers.wait_for_complete()  # builds the image (no registry here), then starts it
        await pilot.pause()
        await pilot.press("colon", *"log", "enter")
        await pilot.pause()
        lines = [strip.text for strip in app.screen.query_one("#log", RichLog).lines]
    entries = [found.groups() for line in lines if (found := ENTRY.match(line))]
    docker = [command for kind, command in entries if kind == "docker"]
    assert {"git", "docker"} <= {kind for kind, _ in entries}, lines
    assert any(command.startswith("docker build") for command in docker), docker
    assert any(command.startswith("docker create --name") for command in docker), docker
    assert any(command.startswith("docker start") for command in docker), docker
    assert any(command.startswith("git commit-tree") for kind, command in entries if kind == "git")
