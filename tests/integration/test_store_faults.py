"""Faults of a shared artifact store (issue 14), against the real distribution registry and moto's
S3 server, through the installed ``mlopsctl`` in subprocesses:

- the store goes down while ``train`` works: exit 3, no record, no commit, the run marked failed;
- ``train`` killed with SIGKILL mid-upload: no record names a blob the store lacks, and the next
  ``train`` completes (its version is fetched and verified on a fresh machine);
- a tampered blob in the store (the registry's file, the S3 object): refused by digest, never cached.

A loopback proxy (tests/support/loopback_proxy.py) in front of the store puts each fault at a known point.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli_process
from tests.support.apply_repo import git, stop_everything
from tests.support.loopback_proxy import LoopbackProxy, loopback_proxy
from tests.support.stores import (
    create_bucket,
    oci_registry,
    registry_blob_file,
    s3_client,
    s3_environment,
    s3_server,
)
from tests.support.team_repo import clone, record_files, register_commits, team_repo

pytestmark = pytest.mark.slow
WAIT_SECONDS = 300


@dataclass
class SharedStore:
    """A real store behind a loopback proxy, as a runner sets it."""

    kind: str
    folder: Path
    proxy: LoopbackProxy
    env: dict[str, str]
    stack: ExitStack
    endpoint: object

    @property
    def uri(self) -> str:
        return self.env["MLOPS_ARTIFACT_STORE"]

    def stop(self) -> None:
        """The store goes away (the proxy stays: its clients find nothing behind it)."""
        self.stack.close()

    def tamper(self, sha256: str) -> None:
        """Other bytes of the same size where the store keeps the blob."""
        if self.kind == "oci":
            blob = registry_blob_file(self.folder, sha256)
            data = blob.read_bytes()
            blob.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
            return
        client = s3_client(self.endpoint)  # type: ignore[arg-type]
        key = f"models/artifacts/sha256/{sha256}"
        data = client.get_object(Bucket="team", Key=key)["Body"].read()
        client.put_object(Bucket="team", Key=key, Body=data[:-1] + bytes([data[-1] ^ 0xFF]))


@pytest.fixture(params=["oci", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedStore]:
    folder = tmp_path / request.param
    with ExitStack() as outer:
        stack = outer.enter_context(ExitStack())
        if request.param == "oci":
            endpoint = stack.enter_context(oci_registry(folder))
            proxy = outer.enter_context(loopback_proxy(endpoint.port))
            env = {"MLOPS_ARTIFACT_STORE": f"oci://{proxy.address}/team/models"}
        else:
            endpoint = stack.enter_context(s3_server(folder))
            create_bucket(endpoint, "team")
            proxy = outer.enter_context(loopback_proxy(endpoint.port))
            env = {
                **s3_environment(endpoint),
                "AWS_ENDPOINT_URL": f"http://{proxy.address}",
                "MLOPS_ARTIFACT_STORE": "s3://team/models",
            }
        yield SharedStore(request.param, folder, proxy, env, stack, endpoint)


def start_train(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlopsctl", "--repo", str(root), "train", "churn"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def last_run_status(root: Path, env: dict[str, str]) -> str:
    listed = run_cli_process("--repo", str(root), "runs", "list", "-o", "json", env=env)
    status: str = json.loads(listed.stdout)["runs"][0]["status"]
    return status


def test_the_store_going_down_while_train_works_is_exit_3_and_nothing_registered(
    store: SharedStore, tmp_path: Path
) -> None:
    root = team_repo(tmp_path)
    store.proxy.hold()
    train = start_train(root, store.env)
    try:
        assert store.proxy.arrived.wait(WAIT_SECONDS), "train never reached the store"
        store.stop()
        store.proxy.release()
        _, stderr = train.communicate(timeout=WAIT_SECONDS)
    finally:
        if train.poll() is None:
            os.killpg(train.pid, signal.SIGKILL)
            train.wait()
    assert train.returncode == 3, stderr
    kind = "OCI" if store.kind == "oci" else "S3"
    assert f"the {kind} store {store.uri} does not answer" in stderr
    assert (record_files(root), register_commits(root)) == ([], [])
    assert last_run_status(root, store.env) == "FAILED"


def test_train_killed_mid_upload_leaves_no_record_and_the_next_train_completes(
    store: SharedStore, tmp_path: Path
) -> None:
    root = team_repo(tmp_path, estimators=150)  # a model of a few hundred KB: its upload takes a while
    store.proxy.throttle(256 * 1024)
    under_way = store.proxy.sent_past(96 * 1024)
    train = start_train(root, store.env)
    try:
        assert under_way.wait(WAIT_SECONDS), "no upload started"
    finally:
        os.killpg(train.pid, signal.SIGKILL)
        train.wait()
    assert (record_files(root), register_commits(root)) == ([], [])

    store.proxy.throttle(None)
    again = run_cli_process("--repo", str(root), "train", "churn", env=store.env)
    assert again.code == 0, again.stdout + again.stderr
    assert record_files(root) == ["v1.yaml"]
    git(root, "push", "-q", "origin", "HEAD:main")
    fresh = clone(tmp_path, "fresh")
    shown = run_cli_process("--repo", str(fresh), "registry", "show", "churn@1", "-o", "json", env=store.env)
    assert json.loads(shown.stdout)["artifact_state"] == "verified", shown.stderr


def test_a_tampered_blob_in_the_store_is_refused_by_digest_and_never_cached(store: SharedStore, tmp_path: Path) -> None:
    root = team_repo(tmp_path)
    assert run_cli_process("--repo", str(root), "train", "churn", env=store.env).code == 0
    promoted = run_cli_process("--repo", str(root), "promote", "churn@1", "--env", "staging", "--direct")
    assert promoted.code == 0, promoted.stderr
    git(root, "push", "-q", "origin", "HEAD:main")
    record = json.loads(
        run_cli_process("--repo", str(root), "registry", "show", "churn@1", "-o", "json", "--no-verify").stdout
    )["record"]
    sha256 = record["artifact"]["sha256"]
    store.tamper(sha256)

    other = clone(tmp_path, "b")
    try:
        applied = run_cli_process("--repo", str(other), "apply", "--env", "staging", env=store.env)
    finally:
        stop_everything(other)
    assert applied.code == 1, applied.stdout + applied.stderr
    assert f"the artifact store {store.uri} returned other bytes for sha256:{sha256}" in applied.stderr
    assert "the stored blob was tampered with or corrupted; it was not cached or loaded" in applied.stderr
    assert not list((other / ".mlops" / "artifacts").rglob(f"{sha256}*"))


def test_the_registry_refuses_bytes_that_are_not_the_digest_they_are_pushed_under(tmp_path: Path) -> None:
    """The lower-level push names the layer by the digest mlopsctl computed: the registry checks it."""
    from mlopsctl.errors import MlopsError
    from mlopsctl.ports.oci import OciLocation, OciRegistry
    from mlopsctl.registry.artifacts import sha256_hex

    with oci_registry(tmp_path / "registry") as endpoint:
        registry = OciRegistry(OciLocation.parse(f"oci://{endpoint.url}/team/models"))
        blob = tmp_path / "blob"
        blob.write_bytes(b"the bytes on disk")
        claimed = sha256_hex(b"other bytes")
        with pytest.raises(MlopsError) as raised:
            registry.push("artifacts", blob, claimed, "application/octet-stream")
        assert "HTTP 400" in str(raised.value) and "DIGEST_INVALID" in str(raised.value)
        assert not registry.has("artifacts", claimed)
