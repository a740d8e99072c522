"""The Docker port: connecting and every engine call are recorded (the real engine, marked docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl import oplog
from mlopsctl.errors import DockerUnreachable
from mlopsctl.ports.docker import DockerEngine, NoSuchObject
from tests.support.services import BASE_IMAGE, require_base_image


def test_an_engine_that_does_not_answer_is_recorded(
    operations: list[oplog.Operation], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(DockerUnreachable):
        DockerEngine.connect(timeout=5)
    assert [(op.kind, op.command, op.ok, op.detail) for op in operations] == [
        ("docker", f"connect unix://{tmp_path}/no-engine.sock", False, "no such file or directory")
    ]


@pytest.mark.docker
def test_engine_calls_are_recorded(operations: list[oplog.Operation], monkeypatch: pytest.MonkeyPatch) -> None:
    require_base_image()
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    engine = DockerEngine.connect(timeout=60)
    found = engine.call(f"docker image inspect {BASE_IMAGE}", "inspect_image", BASE_IMAGE)
    assert found["Id"].startswith("sha256:")
    with pytest.raises(NoSuchObject):
        engine.call("docker inspect nothing", "inspect_container", "mlopsctl-no-such-container")
    assert [(op.kind, op.command, op.ok) for op in operations] == [
        ("docker", "connect unix:///var/run/docker.sock", True),
        ("docker", f"docker image inspect {BASE_IMAGE}", True),
        ("docker", "docker inspect nothing", False),
    ]
