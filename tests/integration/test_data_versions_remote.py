"""Data versions that travel through a shared store (issue 14): machine A trains with an ``oci://`` or
``s3://`` artifact store and pushes Git; machine B, a fresh clone with its own HOME, an empty state
folder and no data file, gets the exact data back with ``data pull`` and reproduces A's version with
identical metrics and artifact bytes. A second train on the same data uploads nothing.

Real pieces: a bare Git remote, Debian's distribution registry and moto's S3 server on loopback
(tests/support/stores.py), the installed ``mlopsctl`` entry point in subprocesses.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.oplog import Operation
from mlopsctl.registry.records import read_record, version_numbers
from mlopsctl.registry.remote import open_blob_store
from tests.conftest import GITCONFIG, run_cli_process
from tests.support.apply_repo import git
from tests.support.stores import create_bucket, oci_registry, s3_environment, s3_server, team_store
from tests.support.team_repo import team_repo

pytestmark = pytest.mark.slow


@pytest.fixture(params=["oci", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """What a runner sets to reach the shared store: its address and (S3) boto3's own variables."""
    with team_store(request.param, tmp_path / request.param) as (variables, _endpoint):
        yield variables


@pytest.fixture
def machine_a(tmp_path: Path) -> Path:
    """A's repository (the template with a small forest, staging on a free port), pushed to a bare remote."""
    return team_repo(tmp_path)


def fresh_home(folder: Path) -> dict[str, str]:
    folder.mkdir()
    (folder / ".gitconfig").write_text(GITCONFIG)
    return {"HOME": str(folder), "GIT_CONFIG_GLOBAL": str(folder / ".gitconfig")}


def cli(root: Path, env: dict[str, str], *args: str) -> Any:
    return run_cli_process("--repo", str(root), *args, env=env)


def test_a_fresh_clone_pulls_the_data_and_reproduces_what_another_machine_trained(
    machine_a: Path, store: dict[str, str], tmp_path: Path
) -> None:
    trained = cli(machine_a, store, "train", "churn", "-o", "json")
    assert trained.code == 0, trained.stdout + trained.stderr
    snapshot = json.loads(trained.stdout)["data_snapshot"]
    assert (snapshot["store"], snapshot["new"], snapshot["uploaded"]) == (store["MLOPS_ARTIFACT_STORE"], True, True)
    git(machine_a, "push", "-q", "origin", "HEAD:main")
    original = (machine_a / "data" / "churn.csv").read_bytes()
    record = read_record(machine_a, "churn", 1)
    assert snapshot["sha256"] == record.data.sha256 == hashlib.sha256(original).hexdigest()

    machine_b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(tmp_path / "remote.git"), str(machine_b))
    env_b = {**store, **fresh_home(tmp_path / "home-b")}
    (machine_b / "data" / "churn.csv").unlink()  # B has the Git repository, not A's data folder
    assert not (machine_b / ".mlops").exists()

    pulled = cli(machine_b, env_b, "data", "pull", "churn@1")
    assert pulled.code == 0, pulled.stdout + pulled.stderr
    assert pulled.stdout.replace("\n", " ").strip() == (
        f"Wrote data/churn.csv: churn@1's data, {len(original):,} bytes, sha256 {record.data.sha256[:12]}, "
        f"from {store['MLOPS_ARTIFACT_STORE']}"
    )
    assert (machine_b / "data" / "churn.csv").read_bytes() == original

    (machine_b / "data" / "churn.csv").unlink()
    reproduced = cli(machine_b, env_b, "reproduce", "churn@1", "-o", "json")
    assert reproduced.code == 0, reproduced.stdout + reproduced.stderr
    payload = json.loads(reproduced.stdout)
    assert payload["data_note"] == (
        f"'data/churn.csv' is missing here; used the snapshot sha256:{record.data.sha256[:12]} "
        f"from {store['MLOPS_ARTIFACT_STORE']}"
    )
    assert payload["metrics_match"] is True
    assert all(check["exact"] for check in payload["metrics"])
    assert payload["artifact"] == {
        "recorded": record.artifact.sha256,
        "reproduced": record.artifact.sha256,
        "matches": True,
    }


def data_uploads(operations: list[Operation]) -> list[str]:
    """Uploads of data snapshots the ports recorded (an OCI push, an S3 put)."""
    return [
        op.command
        for op in operations
        if op.kind in ("oci", "s3") and op.command.split(" ", 1)[0] in ("push", "put") and "/data" in op.command
    ]


def test_a_second_train_on_the_same_data_uploads_nothing(
    machine_a: Path,
    store: dict[str, str],
    cli_in_process: Any,
    operations: list[Operation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in store.items():
        monkeypatch.setenv(name, value)
    first = cli_in_process("--repo", str(machine_a), "train", "churn", "-o", "json")
    assert first.code == 0, first.stderr
    assert len(data_uploads(operations)) == 1
    operations.clear()
    second = cli_in_process(
        "--repo", str(machine_a), "train", "churn", "--set", "training.params.n_estimators=12", "-o", "json"
    )
    assert second.code == 0, second.stderr
    assert json.loads(second.stdout)["version"] == 2
    assert json.loads(second.stdout)["data_snapshot"]["uploaded"] is False
    assert data_uploads(operations) == []


@pytest.fixture
def cli_in_process(cli: Any) -> Any:
    """The real entry point in this process, so the operation log of the ports is visible to the test."""
    return cli


def test_a_tampered_snapshot_in_the_store_is_refused(machine_a: Path, tmp_path: Path) -> None:
    with s3_server(tmp_path / "s3") as endpoint:
        create_bucket(endpoint, "team")
        store = {"MLOPS_ARTIFACT_STORE": "s3://team/models", **s3_environment(endpoint)}
        assert cli(machine_a, store, "train", "churn").code == 0
        sha256 = read_record(machine_a, "churn", 1).data.sha256
        tampered = b"customer_id,churned\n1,0\n"
        _s3_client(store).put_object(Bucket="team", Key=f"models/data/sha256/{sha256}", Body=tampered)
        (machine_a / ".mlops" / "artifacts" / "data" / "sha256" / sha256[:2] / sha256).unlink()  # A's cache
        (machine_a / "data" / "churn.csv").unlink()
        pulled = cli(machine_a, store, "data", "pull", "churn@1")
    assert pulled.code == 1
    assert pulled.stderr.replace("\n", " ") == (
        "error: Data snapshot refused: the artifact store s3://team/models returned other bytes for churn@1's data "
        f"(sha256:{sha256}): sha256:{hashlib.sha256(tampered).hexdigest()} "
        "hint: the stored snapshot was tampered with or corrupted; nothing was written "
    )
    assert not (machine_a / "data" / "churn.csv").exists()


def _s3_client(store: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=store["AWS_ENDPOINT_URL"],
        aws_access_key_id=store["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=store["AWS_SECRET_ACCESS_KEY"],
        region_name=store["AWS_DEFAULT_REGION"],
    )


def test_a_train_killed_at_any_point_never_leaves_a_record_naming_missing_data(machine_a: Path, tmp_path: Path) -> None:
    """kill -9 once the data snapshot is being stored (or when train ends first): whatever the moment, every
    record present names data the store holds; a second train then completes."""
    with oci_registry(tmp_path / "registry") as registry:
        store = {"MLOPS_ARTIFACT_STORE": f"oci://{registry.url}/team/models"}
        process = subprocess.Popen(
            [sys.executable, "-m", "mlopsctl", "--repo", str(machine_a), "train", "churn"],
            env={**os.environ, **store},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        snapshots = machine_a / ".mlops" / "artifacts" / "data"
        deadline = time.monotonic() + 300
        while process.poll() is None and not any(snapshots.rglob("*")) and time.monotonic() < deadline:
            time.sleep(0.01)
        process.kill()
        process.wait(timeout=30)
        blobs = open_blob_store(store["MLOPS_ARTIFACT_STORE"], chosen_by_runner=True)
        for version in version_numbers(machine_a, "churn"):
            assert blobs.has("data", read_record(machine_a, "churn", version).data.sha256)
        again = cli(machine_a, store, "train", "churn")
        assert again.code == 0, again.stdout + again.stderr
        latest = version_numbers(machine_a, "churn")[-1]
        assert blobs.has("data", read_record(machine_a, "churn", latest).data.sha256)
