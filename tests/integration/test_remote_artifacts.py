"""Artifact stores that travel (issue 14): the real distribution registry and a real S3 endpoint.

What one machine puts, another (an empty cache) gets back byte for byte; bytes that do not match the
digest are refused and never cached; a store that does not answer is exit 3; two writers of the same
blob at once both succeed; every call is in the operation log.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlopsctl import oplog
from mlopsctl.contract.records import ArtifactRef
from mlopsctl.errors import ExitCode, NotFound, StoreUnreachable
from mlopsctl.registry.artifacts import ArtifactRefused, sha256_hex
from mlopsctl.registry.remote import KIND, RemoteArtifactStore
from tests.support.services import free_port
from tests.support.stores import create_bucket, oci_registry, s3_environment, s3_server

pytestmark = pytest.mark.slow
BLOB = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(scope="module", params=["oci", "s3"])
def store_uri(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "oci":
        with oci_registry(folder) as registry:
            yield f"oci://{registry.url}/team/models"
        return
    with s3_server(folder) as endpoint, pytest.MonkeyPatch.context() as patch:
        for name, value in s3_environment(endpoint).items():
            patch.setenv(name, value)
        create_bucket(endpoint, "team")
        yield "s3://team/models"


def machine(tmp_path: Path, name: str, uri: str) -> RemoteArtifactStore:
    """A store as one machine sees it: its own empty cache folder in front of the shared store."""
    return RemoteArtifactStore(tmp_path / name / "artifacts", uri)


def test_what_one_machine_puts_another_gets_byte_for_byte(store_uri: str, tmp_path: Path) -> None:
    seen: list[oplog.Operation] = []
    unsubscribe = oplog.subscribe(seen.append)
    try:
        ref = machine(tmp_path, "a", store_uri).put(BLOB)
        other = machine(tmp_path, "b", store_uri)
        assert not other.path_for(ref.sha256).exists()
        assert other.has(ref)
        assert other.get(ref) == BLOB
        assert other.path_for(ref.sha256).read_bytes() == BLOB  # cached for the service to load
    finally:
        unsubscribe()
    kind = store_uri.split("://")[0]
    commands = [op.command for op in seen if op.kind == kind]
    assert any(command.startswith(("push ", "put ")) for command in commands), commands
    assert any(command.startswith(("pull ", "get ")) for command in commands), commands
    assert all(op.ok for op in seen if op.kind == kind)


def test_a_blob_the_store_does_not_hold_is_not_found_with_what_to_do(store_uri: str, tmp_path: Path) -> None:
    missing = ArtifactRef(uri="x", sha256=sha256_hex(b"never pushed"), size=12, format="skops")
    with pytest.raises(NotFound) as raised:
        machine(tmp_path, "b", store_uri).get(missing)
    assert str(raised.value).startswith(
        f"artifact sha256:{missing.sha256[:12]} is not in the artifact store {store_uri}"
    )
    assert raised.value.exit_code == ExitCode.PROBLEMS


def test_four_machines_pushing_the_same_blob_at_once_all_succeed(store_uri: str, tmp_path: Path) -> None:
    data = b"same bytes from four clones" * 1000
    refs: list[ArtifactRef] = []
    errors: list[BaseException] = []

    def push(name: str) -> None:
        try:
            refs.append(machine(tmp_path, name, store_uri).put(data))
        except BaseException as exc:  # the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(name,)) for name in ("a", "b", "c", "d")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(refs) == 4 and all(ref == refs[0] for ref in refs)
    assert machine(tmp_path, "e", store_uri).get(refs[0]) == data


def test_tampered_bytes_in_the_store_are_refused_and_never_cached(store_uri: str, tmp_path: Path) -> None:
    ref = machine(tmp_path, "a", store_uri).put(b"the registered artifact" * 100)
    reader = machine(tmp_path, "b", store_uri)

    class Tampered:
        """The store answers, but with other bytes (a swapped object, a compromised mirror)."""

        def has(self, kind: str, sha256: str) -> bool:
            return True

        def push(self, kind: str, path: Path, sha256: str, media_type: str) -> None:
            raise AssertionError("nothing is pushed on a read")

        def pull(self, kind: str, sha256: str) -> bytes:
            assert kind == KIND
            return reader_remote.pull(kind, sha256)[:-1] + b"!"

        def pull_to(self, kind: str, sha256: str, path: Path) -> str:
            data = self.pull(kind, sha256)
            path.write_bytes(data)
            return sha256_hex(data)

    reader_remote = reader.remote
    reader.remote = Tampered()
    with pytest.raises(ArtifactRefused) as raised:
        reader.get(ref)
    assert f"returned other bytes for sha256:{ref.sha256}" in str(raised.value)
    assert not reader.path_for(ref.sha256).exists()


@pytest.mark.parametrize("uri", ["oci://127.0.0.1:{port}/team/models", "s3://team/models"])
def test_a_store_that_does_not_answer_is_exit_3(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(StoreUnreachable) as raised:
        machine(tmp_path, "a", uri.format(port=port)).put(b"anything")
    assert raised.value.exit_code == ExitCode.UNREACHABLE
    assert "does not answer" in str(raised.value)
