"""``mlopsctl build`` without an engine: exact messages and exit codes for what fails before a build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlopsctl.build.references import image_references
from mlopsctl.errors import UsageError
from mlopsctl.registry.store import register_version
from mlopsctl.spec.loader import open_repo
from tests.support.registry_drafts import make_draft


@pytest.fixture
def registered(model_repo: Path) -> Path:
    register_version(open_repo(model_repo), make_draft("churn"))
    return model_repo


def test_an_unreachable_engine_exits_3_and_says_how_to_point_DOCKER_HOST(
    registered: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dead = tmp_path / "dead.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{dead}")
    result = cli("build", "churn@1", "--repo", str(registered))
    assert result.code == 3
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: Docker engine unreachable: no Docker engine answers at unix://{dead} (DOCKER_HOST): "
        "no such file or directory",
        "hint: start the Docker engine, or point DOCKER_HOST at one that runs: export "
        "DOCKER_HOST=unix:///var/run/docker.sock (a local engine) or export DOCKER_HOST=tcp://HOST:2376 with "
        "DOCKER_TLS_VERIFY=1 (a remote one)",
    ]


def test_a_refused_tcp_engine_exits_3_too(registered: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.services import free_port

    port = free_port()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    result = cli("build", "churn@1", "--repo", str(registered))
    assert result.code == 3
    assert result.stderr.startswith(
        f"error: Docker engine unreachable: no Docker engine answers at tcp://127.0.0.1:{port} (DOCKER_HOST): "
    )


def test_a_version_that_does_not_exist_is_exit_1_before_any_engine(
    registered: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'dead.sock'}")
    result = cli("build", "churn@7", "--repo", str(registered))
    assert result.code == 1
    assert result.stderr.splitlines() == [
        f"error: Not found: no version churn@7 in {registered / 'registry' / 'churn'}",
        "hint: versions of churn: 1",
    ]


def test_a_bad_reference_is_a_usage_error(registered: Path, cli: Any) -> None:
    result = cli("build", "churn", "--repo", str(registered))
    assert result.code == 2
    assert result.stderr.splitlines()[0] == "error: Usage error: 'churn' is not a model version reference"


def test_push_without_a_registry_is_a_usage_error(
    registered: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'dead.sock'}")
    result = cli("build", "churn@1", "--push", "--repo", str(registered))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: Usage error: --push needs image.registry in {registered / 'mlops.yaml'}, and it is not set",
        "hint: set image.registry (e.g. ghcr.io/acme), or build without --push to keep the image local",
    ]


def test_references_are_project_model_and_version(model_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = open_repo(model_repo)
    assert image_references(repo, "churn", 3) == ["demo/churn:v3"]
    assert image_references(repo, "churn", 3, ["latest", "acme/other:x", "team/churn", "latest"]) == [
        "demo/churn:v3",
        "demo/churn:latest",
        "acme/other:x",
        "team/churn:latest",
    ]
    monkeypatch.setenv("MLOPS_IMAGE_REGISTRY", "registry.example:5000/ml/")
    repo = open_repo(model_repo)
    assert image_references(repo, "churn", 3, ["canary"]) == [
        "registry.example:5000/ml/demo/churn:v3",
        "registry.example:5000/ml/demo/churn:canary",
    ]


def test_a_malformed_tag_is_a_usage_error(model_repo: Path) -> None:
    with pytest.raises(UsageError) as caught:
        image_references(open_repo(model_repo), "churn", 3, ["Bad Tag!"])
    assert caught.value.message == "--tag 'Bad Tag!' is neither a tag nor an image reference"
    assert caught.value.hint == (
        "give a tag such as latest or candidate, or a full reference such as acme/churn:2024-06"
    )
