"""Images pushed by digest, pulled by digest on a machine that never built them (issue 14).

One module-scoped repository with one version trained by the real trainer, ``image.registry``
naming Debian's distribution registry on loopback and a git remote with an https URL (the image's
``org.opencontainers.image.source``). The fixture runs the real ``mlopsctl`` entry point: ``build
--push`` to a registry that does not answer, then to the real one (the second build is the first
one's cache). Then the image is taken off the engine under every name, as on a machine that never
built it, and ``apply`` on the docker target must pull it by its digest, build nothing, and serve.
One image build in all (about a minute on two shared cores).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.deploy.api import down_environment, light_repo
from mlopsctl.oplog import Operation
from mlopsctl.spec.loader import open_repo
from tests.conftest import CliResult, isolate_git_home, run_cli_process
from tests.support.apply_repo import EXAMPLE, git, write_env
from tests.support.image_registry import image_events, registry_digest, remove_every_tag, set_image_registry
from tests.support.services import (
    docker_client,
    free_port,
    image_test_repo,
    remove_project_images,
    require_base_image,
)
from tests.support.stores import Endpoint, oci_registry

pytestmark = [pytest.mark.docker, pytest.mark.slow]
PROJECT = "image-digests"
ENV = "dock"
SOURCE = "https://git.example.com/acme/image-digests"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Site:
    root: Path
    registry: Endpoint
    dead_registry: str
    unanswered: CliResult
    recorded_after_unanswered: bool
    refused_commit: CliResult
    left_by_refused_commit: tuple[str, bool]
    pushed: CliResult

    @property
    def name(self) -> str:
        return f"{self.registry.url}/acme/{PROJECT}/churn"

    def pushed_entry(self) -> dict[str, Any]:
        (entry,) = json.loads(self.pushed.stdout)["pushed"]
        return dict(entry)

    @property
    def pinned(self) -> str:
        return f"{self.name}@{self.pushed_entry()['digest']}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_base_image()
    base = tmp_path_factory.mktemp("digests")
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        isolate_git_home(tmp_path_factory, patch)
        registry = stack.enter_context(oci_registry(base / "registry"))
        root = _trained_repo(base / "repo", f"{registry.url}/acme")
        stack.callback(remove_project_images, PROJECT)
        stack.callback(down_environment, light_repo(root), ENV)
        dead = f"127.0.0.1:{free_port()}/acme"
        unanswered = _cli("build", "churn@1", "--push", "--repo", str(root), env={"MLOPS_IMAGE_REGISTRY": dead})
        recorded = (root / "registry" / "churn" / "images.yaml").exists()
        refused, left = _push_with_a_refusing_commit_hook(root)
        pushed = _cli("build", "churn@1", "--push", "-o", "json", "--repo", str(root))
        assert pushed.code == 0, pushed.stdout + pushed.stderr
        yield Site(root, registry, dead, unanswered, recorded, refused, left, pushed)


def _trained_repo(root: Path, registry: str) -> Path:
    from mlopsctl.train.api import train_model

    image_test_repo(root, PROJECT, "Small model for the digest tests")
    git(root, "remote", "add", "origin", SOURCE + ".git")
    set_image_registry(root, registry)
    train_model(open_repo(root), "churn")
    return root


def _push_with_a_refusing_commit_hook(root: Path) -> tuple[CliResult, tuple[str, bool]]:
    """build --push whose record commit a pre-commit hook refuses; what it left in the work tree."""
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'refused by the pre-commit hook' >&2\nexit 1\n")
    hook.chmod(0o755)
    try:
        refused = _cli("build", "churn@1", "--push", "--repo", str(root))
    finally:
        hook.unlink()
    left = git(root, "status", "--porcelain"), (root / "registry" / "churn" / "images.yaml").exists()
    return refused, left


def _cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    return run_cli_process(*args, env={"COLUMNS": "200", **(env or {})})


def test_a_registry_that_does_not_answer_stops_the_push_with_exit_3_and_records_nothing(site: Site) -> None:
    assert site.unanswered.code == 3, site.unanswered.stdout + site.unanswered.stderr
    first = site.unanswered.stderr.splitlines()[0]
    assert first.startswith(
        f"error: Image registry unreachable: the registry of {site.dead_registry}/{PROJECT}/churn:v1 does not answer: "
    )
    assert not site.recorded_after_unanswered


def test_a_record_commit_that_fails_leaves_no_images_yaml_behind(site: Site) -> None:
    assert site.refused_commit.code == 1, site.refused_commit.stdout + site.refused_commit.stderr
    assert "refused by the pre-commit hook" in site.refused_commit.stderr
    assert site.left_by_refused_commit == ("", False)


def test_the_push_records_the_registrys_own_manifest_digest_in_one_commit(site: Site) -> None:
    entry = site.pushed_entry()
    digest = registry_digest(site.registry.url, f"acme/{PROJECT}/churn", "v1")
    assert (entry["reference"], entry["digest"]) == (f"{site.name}:v1", digest)
    committed = yaml.safe_load(git(site.root, "show", "HEAD:registry/churn/images.yaml"))["images"]
    assert [(item["reference"], item["digest"], item["pushed"]) for item in committed] == [
        (f"{site.name}:v1", digest, True)
    ]
    assert git(site.root, "log", "-1", "--format=%B") == f"Record pushed image of churn@1\n\n{site.name}:v1@{digest}"
    assert git(site.root, "status", "--porcelain", "--", "registry") == ""


def test_the_image_carries_the_oci_labels_of_its_version(site: Site) -> None:
    record = yaml.safe_load((site.root / "registry" / "churn" / "v1.yaml").read_text())
    client = docker_client()
    try:
        labels = client.api.inspect_image(site.pinned)["Config"]["Labels"]
    finally:
        client.close()
    oci = {key.removeprefix("org.opencontainers.image."): value for key, value in labels.items()}
    assert {key: oci[key] for key in ("source", "revision", "version", "title", "created")} == {
        "source": SOURCE,
        "revision": record["spec_commit"],
        "version": "1",
        "title": f"{PROJECT}/churn",
        "created": record["created_at"],
    }


def test_apply_on_a_machine_without_the_image_pulls_it_by_digest_and_serves(
    site: Site, cli: Any, operations: list[Operation]
) -> None:
    remove_every_tag(site.pushed_entry()["image_id"])
    port = free_port()
    write_env(site.root, ENV, {"churn": {"version": 1}}, base_port=port, target="docker")
    since = time.time()
    result = cli("apply", "--env", ENV, "--repo", str(site.root), "--timeout", "180")
    events = image_events(since, time.time())
    assert result.code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"pulling image {site.pinned} (pushed for churn@1, registry/churn/images.yaml:5)" in lines
    assert not [line for line in lines if "building image" in line]
    ran = [(op.command, op.ok) for op in operations if op.kind == "docker"]
    assert (f"docker pull {site.pinned}", True) in ran
    assert not [command for command, _ok in ran if command.startswith(("docker build", "build "))]
    assert [event["Actor"]["ID"] for event in events if event.get("Action") == "pull"] == [site.pinned]
    client = docker_client()
    try:
        image = client.api.inspect_image(f"{site.name}:v1")
    finally:
        client.close()
    assert site.pinned in image["RepoDigests"]
    assert _predict(port) == _pipeline_prediction(site.root)


def _predict(port: int) -> list[Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=json.dumps({"records": [EXAMPLE]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with _OPENER.open(request, timeout=30) as response:
        answer: dict[str, Any] = json.load(response)
    assert answer["version"] == 1
    return list(answer["predictions"])


def _pipeline_prediction(root: Path) -> list[Any]:
    import pandas as pd

    from mlopsctl.registry.store import load_version

    record, pipeline = load_version(open_repo(root), "churn", 1)
    features = [column.name for column in record.signature.inputs]
    return list(pipeline.predict(pd.DataFrame([EXAMPLE])[features]).tolist())
