"""``plan`` tells the truth about the docker target's images (issue 14), with no image built.

A repository with registered versions and ``image.registry`` naming Debian's distribution registry on
loopback; ``registry/churn/images.yaml`` entries are written by hand (as a pull request could), so
each case costs a plan, not a build: a digest the registry does not have (exit 1, naming it and the
command that fixes it), a registry that does not answer (exit 3), an entry in another registry
(refused at its line), a fresh clone with neither a pushed image nor the artifact (exit 1).
The real engine answers the plan (the docker target observes through it); nothing is pulled.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.apply_repo import git, make_repo, write_env
from tests.support.image_registry import images_yaml, set_image_registry
from tests.support.services import free_port, require_docker
from tests.support.stores import Endpoint, oci_registry

pytestmark = pytest.mark.docker
PROJECT = "image-plan"
ENV = "dock"
MISSING = "sha256:" + "ab" * 32


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Endpoint]:
    require_docker()
    with oci_registry(tmp_path / "registry") as endpoint:
        yield endpoint


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = make_repo(tmp_path, versions=1, name=PROJECT)
    write_env(root, ENV, {"churn": {"version": 1}}, base_port=free_port(), target="docker")
    return root


def _push_entry(root: Path, reference: str, digest: str) -> None:
    path = root / "registry" / "churn" / "images.yaml"
    path.write_text(images_yaml([{"version": 1, "reference": reference, "digest": digest}]))
    git(root, "add", str(path))
    git(root, "commit", "-q", "-m", "Record a pushed image")


def plan(cli: Any, root: Path) -> Any:
    return cli("plan", "--env", ENV, "--repo", str(root))


def test_a_digest_the_registry_does_not_have_is_refused_by_the_plan(cli: Any, root: Path, registry: Endpoint) -> None:
    set_image_registry(root, f"{registry.url}/acme")
    name = f"{registry.url}/acme/{PROJECT}/churn"
    _push_entry(root, f"{name}:v1", MISSING)
    result = plan(cli, root)
    assert result.code == 1, result.stdout + result.stderr
    assert (
        f"  the image of churn@1 ({name}@{MISSING}, registry/churn/images.yaml:5) is not in the registry: "
        "push it again from a machine that has the version: mlopsctl build churn@1 --push"
    ) in result.stdout.splitlines()


def test_a_registry_that_does_not_answer_is_exit_3(cli: Any, root: Path) -> None:
    require_docker()
    registry = f"127.0.0.1:{free_port()}/acme"
    set_image_registry(root, registry)
    _push_entry(root, f"{registry}/{PROJECT}/churn:v1", MISSING)
    result = plan(cli, root)
    assert result.code == 3, result.stdout + result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(
        f"error: Image registry unreachable: the registry of {registry}/{PROJECT}/churn does not answer: "
    )
    assert "connection refused" in first


def test_an_entry_in_another_registry_is_refused_at_its_line(cli: Any, root: Path) -> None:
    require_docker()
    set_image_registry(root, "127.0.0.1:5999/acme")
    _push_entry(root, f"evil.example.com/acme/{PROJECT}/churn:v1", MISSING)
    result = plan(cli, root)
    assert result.code == 1, result.stdout + result.stderr
    assert (
        f"  registry/churn/images.yaml:5:14: images[0].reference: evil.example.com/acme/{PROJECT}/churn:v1 is not in "
        "the image registry 127.0.0.1:5999/acme (image.registry); an image is pulled only from the registry this "
        "runner's settings name"
    ) in result.stdout.splitlines()


def test_a_malformed_digest_is_refused_at_its_line(cli: Any, root: Path) -> None:
    require_docker()
    set_image_registry(root, "127.0.0.1:5999/acme")
    _push_entry(root, f"127.0.0.1:5999/acme/{PROJECT}/churn:v1", "sha256:../../etc")
    result = plan(cli, root)
    assert result.code == 1, result.stdout + result.stderr
    assert any(
        line.endswith(
            "registry/churn/images.yaml:7:11: images[0].digest: String should match pattern '^sha256:[0-9a-f]{64}$'"
        )
        for line in result.stdout.splitlines() + result.stderr.splitlines()
    ), result.stdout + result.stderr


def test_a_fresh_clone_with_no_pushed_image_and_no_artifact_is_refused(cli: Any, root: Path, tmp_path: Path) -> None:
    require_docker()
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    result = plan(cli, clone)
    assert result.code == 1, result.stdout + result.stderr
    record = yaml.safe_load((clone / "registry" / "churn" / "v1.yaml").read_text())
    short = record["artifact"]["sha256"][:12]
    assert (
        "  no image of churn@1 was pushed (registry/churn/images.yaml names no digest for it) and it cannot be built "
        f"here: the artifact of churn@1 (sha256:{short}) is not in the artifact store .mlops/artifacts: "
    ) in result.stdout
    assert result.stdout.rstrip().endswith(
        "or push its image from a machine that has the version: mlopsctl build churn@1 --push"
    )
