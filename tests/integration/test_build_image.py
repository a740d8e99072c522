"""``mlopsctl build`` against the real Docker engine: build, run with --network host, compare predictions.

One module-scoped repository with two registered versions (trained by the real trainer on the
template's sample data, with a small forest and no latency gate so they register on a busy machine)
and one shared wheelhouse folder (``image.wheelhouse``), so the pinned wheels are downloaded once.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.build.api import BuildResult, build_image
from mlopsctl.build.images import images_for
from mlopsctl.errors import UnreachableError
from mlopsctl.scaffold.init import init_repo
from mlopsctl.spec.loader import Repo, open_repo
from tests.conftest import GITCONFIG
from tests.integration.services import BASE_IMAGE, docker_client, free_port, require_base_image, require_docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class BuiltRepo:
    root: Path
    first: BuildResult
    second: BuildResult

    def repo(self) -> Repo:
        return open_repo(self.root)


def _prepare_repo(root: Path) -> Path:
    """The template repo with a small, quick forest and only a quality gate; two versions trained."""
    from mlopsctl.gitops.git import Git
    from mlopsctl.train.api import train_model

    init_repo(root, "demo")
    settings = yaml.safe_load((root / "mlops.yaml").read_text())
    settings["image"] = {"base": BASE_IMAGE, "registry": None}
    (root / "mlops.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    spec_file = root / "models" / "churn" / "model.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["training"]["params"]["n_estimators"] = 20
    spec["training"].pop("grid", None)
    spec["evaluation"]["gates"] = ["roc_auc >= 0.6"]
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    Git(root).commit(["mlops.yaml", "models/churn/model.yaml"], "Small model for image tests")
    repo = open_repo(root)
    train_model(repo, "churn")
    train_model(repo, "churn", overrides=["training.params.max_depth=4"])
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltRepo]:
    require_docker()
    require_base_image()
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(GITCONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        root = _prepare_repo(tmp_path_factory.mktemp("images") / "repo")
        repo = open_repo(root)
        first = build_image(repo, "churn@1")
        second = build_image(repo, "churn@2")
        yield BuiltRepo(root, first, second)
    client = docker_client()
    for result in (first, second):
        for reference in result.references:
            client.images.remove(reference, force=True)


@pytest.fixture
def running(built: BuiltRepo) -> Iterator[tuple[Any, int]]:
    """Version 1's image running with --network host on a free port."""
    client = docker_client()
    port = free_port()
    container = client.containers.run(
        built.first.references[0],
        detach=True,
        network_mode="host",
        environment={"PORT": str(port)},
        healthcheck={"interval": 1_000_000_000, "start_period": 60_000_000_000},
    )
    try:
        _wait_ready(port, container)
        yield container, port
    finally:
        container.remove(force=True)


def _wait_ready(port: int, container: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with _OPENER.open(f"http://127.0.0.1:{port}/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        container.reload()
        if container.status == "exited":
            raise AssertionError(f"the container exited: {container.logs().decode(errors='replace')[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"not ready within {timeout} s: {container.logs().decode(errors='replace')[-3000:]}")


def _post(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with _OPENER.open(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def _sample_rows(root: Path, count: int) -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_csv(root / "data" / "churn.csv").head(count)
    return json.loads(frame.to_json(orient="records"))


def test_predictions_from_the_container_equal_the_pipelines_own(built: BuiltRepo, running: tuple[Any, int]) -> None:
    import pandas as pd

    from mlopsctl.registry.store import load_version

    _container, port = running
    record, pipeline = load_version(built.repo(), "churn", 1)
    rows = _sample_rows(built.root, 50)
    features = [column.name for column in record.signature.inputs]
    frame = pd.DataFrame(rows)[features]
    answer = _post(port, "/predict", {"records": [{name: row[name] for name in features} for row in rows]})
    assert answer["version"] == 1
    assert answer["predictions"] == pipeline.predict(frame).tolist()
    assert answer["probabilities"] == pipeline.predict_proba(frame).tolist()


def test_the_image_runs_as_non_root_and_its_healthcheck_passes(built: BuiltRepo, running: tuple[Any, int]) -> None:
    container, _port = running
    config = docker_client().api.inspect_image(built.first.image_id)["Config"]
    assert config["User"] == "10001:10001"
    assert "/health/ready" in " ".join(config["Healthcheck"]["Test"])
    exit_code, output = container.exec_run(["id", "-u"])
    assert (exit_code, output.decode().strip()) == (0, "10001")
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status", "")
        if status == "healthy":
            break
        time.sleep(0.5)
    assert status == "healthy"


def test_labels_name_the_version_and_its_lineage(built: BuiltRepo) -> None:
    from mlopsctl.registry.records import read_record

    record = read_record(built.root, "churn", 1)
    labels = docker_client().api.inspect_image(built.first.image_id)["Config"]["Labels"]
    assert labels["dev.mlopsctl.model"] == "churn"
    assert labels["dev.mlopsctl.version"] == "1"
    assert labels["dev.mlopsctl.artifact-sha256"] == record.artifact.sha256
    assert labels["dev.mlopsctl.spec-commit"] == record.spec_commit
    assert labels["dev.mlopsctl.run-id"] == record.run_id
    assert labels["org.opencontainers.image.version"] == "1"
    assert labels["org.opencontainers.image.revision"] == record.spec_commit
    assert labels["org.opencontainers.image.created"] == record.created_at
    assert labels["org.opencontainers.image.title"] == "demo/churn"
    assert built.first.references == ["demo/churn:v1"]


def test_a_new_version_rebuilds_only_the_model_layer(built: BuiltRepo) -> None:
    from mlopsctl.registry.records import read_record

    first, second = built.first.layers, built.second.layers
    assert len(first) == len(second) == 4  # base, environment, service, model
    assert first[:-1] == second[:-1]
    assert first[-1] != second[-1]
    client = docker_client().api
    old, new = client.history(built.first.image_id), client.history(built.second.image_id)
    assert [step["CreatedBy"].split("#(nop) ")[-1].split()[0] for step in new[:3]] == ["LABEL", "COPY", "ENTRYPOINT"]
    assert new[2]["Id"] == old[2]["Id"]  # everything up to the entry point is the very same image
    assert new[1]["Id"] != old[1]["Id"]
    artifact = read_record(built.root, "churn", 2).artifact.size
    assert artifact <= new[1]["Size"] < artifact + 100_000  # the new layer is the record and the artifact


def test_rebuilding_the_same_version_gives_the_same_image(built: BuiltRepo) -> None:
    again = build_image(built.repo(), "churn@1")
    assert again.image_id == built.first.image_id
    assert (again.steps, again.cached_steps) == (13, 11)  # every step but the two FROMs says "Using cache"


def test_builds_are_recorded_beside_the_version(built: BuiltRepo) -> None:
    entries = images_for(built.repo(), "churn", 2)
    assert [(entry.reference, entry.image_id, entry.pushed) for entry in entries][:1] == [
        ("demo/churn:v2", built.second.image_id, False)
    ]


def test_an_unreachable_registry_exits_3(built: BuiltRepo, tmp_path: Path) -> None:
    repo = built.repo()
    registry = f"127.0.0.1:{free_port()}/acme"
    repo.settings.image.registry = registry
    try:
        with pytest.raises(UnreachableError) as caught:
            build_image(repo, "churn@1", push=True)
    finally:
        docker_client().images.remove(f"{registry}/demo/churn:v1", force=True)
    assert caught.value.exit_code == 3
    assert caught.value.title == "Image registry unreachable"
    assert caught.value.message.startswith(f"the registry of {registry}/demo/churn:v1 does not answer: ")
    assert not (built.root / "registry" / "churn" / "images.yaml").exists()
