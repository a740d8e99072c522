"""``mlopsctl build`` against the real Docker engine: build, run with --network host, compare predictions.

One module-scoped repository with two registered versions (trained by the real trainer on the
template's sample data, with a small forest and no latency gate so they register on a busy machine)
and one shared wheelhouse folder (``image.wheelhouse``), so the pinned wheels are downloaded once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.build.api import BuildResult, build_image
from mlopsctl.build.images import images_for
from mlopsctl.errors import UnreachableError
from mlopsctl.spec.loader import Repo, open_repo
from tests.conftest import isolate_git_home
from tests.support.services import (
    docker_client,
    free_port,
    image_test_repo,
    remove_project_images,
    require_base_image,
    require_docker,
)

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
    from mlopsctl.train.api import train_model

    image_test_repo(root, "image-tests", "Small model for image tests")
    repo = open_repo(root)
    train_model(repo, "churn")
    train_model(repo, "churn", overrides=["training.params.max_depth=4"])
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltRepo]:
    require_docker()
    require_base_image()
    with pytest.MonkeyPatch.context() as patch:
        isolate_git_home(tmp_path_factory, patch)
        root = _prepare_repo(tmp_path_factory.mktemp("images") / "repo")
        repo = open_repo(root)
        first = build_image(repo, "churn@1")
        second = build_image(repo, "churn@2")
        yield BuiltRepo(root, first, second)
    remove_project_images("image-tests")


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
    assert labels["org.opencontainers.image.title"] == "image-tests/churn"
    assert built.first.references == ["image-tests/churn:v1"]


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
        ("image-tests/churn:v2", built.second.image_id, False)
    ]


def test_an_unreachable_registry_exits_3(built: BuiltRepo, tmp_path: Path) -> None:
    repo = built.repo()
    registry = f"127.0.0.1:{free_port()}/acme"
    repo.settings.image.registry = registry
    try:
        with pytest.raises(UnreachableError) as caught:
            build_image(repo, "churn@1", push=True)
    finally:
        docker_client().images.remove(f"{registry}/image-tests/churn:v1", force=True)
    assert caught.value.exit_code == 3
    assert caught.value.title == "Image registry unreachable"
    assert caught.value.message.startswith(f"the registry of {registry}/image-tests/churn:v1 does not answer: ")
    assert not (built.root / "registry" / "churn" / "images.yaml").exists()


def test_without_the_cache_the_same_inputs_give_the_same_layers(built: BuiltRepo) -> None:
    again = build_image(built.repo(), "churn@2", no_cache=True)
    assert again.cached_steps == 0
    assert again.layers == built.second.layers  # environment, service and model layers, byte for byte


def test_the_cli_streams_the_steps_and_names_the_image(built: BuiltRepo, cli: Any) -> None:
    result = cli("build", "churn@2", "--tag", "latest", "--repo", str(built.root))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  Step 1/13 : FROM mlopsctl/python:3.11-bookworm AS environment" in lines
    assert "  Step 12/13 : COPY model/ /" in lines
    assert lines.count("    cached") == 11
    assert f"  image   {_image_id('image-tests/churn:v2')}" in lines
    assert "  tag     image-tests/churn:v2" in lines and "  tag     image-tests/churn:latest" in lines
    assert "  docker run --rm -p 8080:8080 image-tests/churn:v2" in lines


def _image_id(reference: str) -> str:
    """What the tag names now (a --no-cache build gives the same layers a new image ID)."""
    return str(docker_client().api.inspect_image(reference)["Id"])


def test_json_output_is_quiet_and_complete(built: BuiltRepo, cli: Any) -> None:
    result = cli("build", "churn@2", "-o", "json", "--repo", str(built.root))
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["image_id"] == _image_id("image-tests/churn:v2")
    assert payload["references"] == ["image-tests/churn:v2"]
    assert payload["layers"] == built.second.layers
    assert payload["labels"]["dev.mlopsctl.version"] == "2"
    assert "numpy==" in " ".join(payload["requirements"])


class _Registry(ThreadingHTTPServer):
    """The smallest Docker registry (HTTP API v2) that takes a push: blobs and manifests in memory."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RegistryHandler)
        self.blobs: dict[str, bytes] = {}
        self.uploads: dict[str, bytearray] = {}
        self.manifests: dict[str, bytes] = {}


class _RegistryHandler(BaseHTTPRequestHandler):
    server: _Registry
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(code)
        for name, value in {"Docker-Distribution-API-Version": "registry/2.0", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while size := int(self.rfile.readline().split(b";")[0], 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return bytes(data)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        self._reply(200 if self.path == "/v2/" else 404)

    def do_HEAD(self) -> None:
        digest = self.path.rsplit("/", 1)[-1]
        blob = self.server.blobs.get(digest) if "/blobs/" in self.path else None
        if blob is None:
            self._reply(404)
            return
        self.send_response(200)
        self.send_header("Docker-Content-Digest", digest)
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()

    def do_POST(self) -> None:
        name = self.path.split("/blobs/uploads/")[0]
        upload = uuid.uuid4().hex
        self.server.uploads[upload] = bytearray()
        location = f"{name}/blobs/uploads/{upload}"
        self._reply(202, {"Location": location, "Docker-Upload-UUID": upload, "Range": "0-0"})

    def do_PATCH(self) -> None:
        upload = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
        self.server.uploads[upload] += self._body()
        size = len(self.server.uploads[upload])
        self._reply(202, {"Location": self.path, "Docker-Upload-UUID": upload, "Range": f"0-{max(size - 1, 0)}"})

    def do_PUT(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self._body()
        if "/manifests/" in url.path:
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.server.manifests[url.path.rsplit("/", 1)[-1]] = body
            self._reply(201, {"Docker-Content-Digest": digest, "Location": url.path})
            return
        upload = url.path.rsplit("/", 1)[-1]
        digest = urllib.parse.parse_qs(url.query)["digest"][0]
        self.server.blobs[digest] = bytes(self.server.uploads.pop(upload)) + body
        self._reply(
            201, {"Docker-Content-Digest": digest, "Location": f"{url.path.split('/blobs/')[0]}/blobs/{digest}"}
        )


def test_push_sends_the_image_and_commits_its_digest_beside_the_version(built: BuiltRepo) -> None:
    from mlopsctl.gitops.git import Git

    registry = _Registry()
    threading.Thread(target=registry.serve_forever, daemon=True).start()
    prefix = f"127.0.0.1:{registry.server_address[1]}/acme"
    repo = built.repo()
    repo.settings.image.registry = prefix
    try:
        result = build_image(repo, "churn@1", push=True)
    finally:
        registry.shutdown()
        docker_client().images.remove(f"{prefix}/image-tests/churn:v1", force=True)
    (entry,) = result.pushed
    assert entry.reference == f"{prefix}/image-tests/churn:v1"
    assert entry.digest == "sha256:" + hashlib.sha256(registry.manifests["v1"]).hexdigest()
    manifest = json.loads(registry.manifests["v1"])
    assert len(manifest["layers"]) == 4 and all(layer["digest"] in registry.blobs for layer in manifest["layers"])
    recorded = yaml.safe_load((built.root / "registry" / "churn" / "images.yaml").read_text())["images"]
    assert [(item["reference"], item["digest"], item["version"]) for item in recorded] == [
        (entry.reference, entry.digest, 1)
    ]
    git = Git(built.root)
    assert result.commit == git.head()
    assert git.out("show", "--name-only", "--format=%s", "HEAD").splitlines() == [
        "Record pushed image of churn@1",
        "",
        "registry/churn/images.yaml",
    ]
