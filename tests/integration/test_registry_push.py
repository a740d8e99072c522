"""``mlopsctl registry push`` (issue 14): versions trained before the team's store was configured get
their artifacts uploaded from this machine; pushing again sends nothing; two clones pushing the same
artifact at once both succeed with one blob in the store. Real registry and S3 endpoint, the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli_process
from tests.support.apply_repo import git
from tests.support.stores import Endpoint, registry_blob_file, s3_client, team_store
from tests.support.team_repo import clone, team_repo

pytestmark = pytest.mark.slow


@pytest.fixture(params=["oci", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], Endpoint]]:
    with team_store(request.param, tmp_path / request.param) as found:
        yield found


@pytest.fixture
def trained_before_the_store(tmp_path: Path) -> tuple[Path, str]:
    """Machine A trained churn@1 with the local store (no shared store yet) and pushed Git."""
    root = team_repo(tmp_path)
    trained = run_cli_process("--repo", str(root), "train", "churn")
    assert trained.code == 0, trained.stdout + trained.stderr
    git(root, "push", "-q", "origin", "HEAD:main")
    shown = run_cli_process("--repo", str(root), "registry", "show", "churn@1", "-o", "json", "--no-verify")
    sha256: str = json.loads(shown.stdout)["record"]["artifact"]["sha256"]
    return root, sha256


def verified_on_a_fresh_clone(tmp_path: Path, env: dict[str, str], name: str) -> str:
    fresh = clone(tmp_path, name)
    shown = run_cli_process("--repo", str(fresh), "registry", "show", "churn@1", "-o", "json", env=env)
    state: str = json.loads(shown.stdout)["artifact_state"]
    return state


def test_push_uploads_what_was_trained_before_the_store_then_says_it_is_there(
    store: tuple[dict[str, str], Endpoint], trained_before_the_store: tuple[Path, str], tmp_path: Path
) -> None:
    env, _ = store
    root, sha256 = trained_before_the_store
    assert verified_on_a_fresh_clone(tmp_path, env, "before") == "missing"

    pushed = run_cli_process("--repo", str(root), "registry", "push", "churn@1", "-o", "json", env=env)
    assert pushed.code == 0, pushed.stdout + pushed.stderr
    payload = json.loads(pushed.stdout)
    assert payload["store"] == env["MLOPS_ARTIFACT_STORE"]
    [item] = payload["artifacts"]
    assert (item["ref"], item["sha256"], item["outcome"]) == ("churn@1", sha256, "uploaded")
    assert verified_on_a_fresh_clone(tmp_path, env, "after") == "verified"

    again = run_cli_process("--repo", str(root), "registry", "push", "--all", env=env)
    assert again.code == 0, again.stdout + again.stderr
    assert f"churn@1 {sha256[:10]}" in again.stdout
    assert "already in the store" in again.stdout
    assert f"0 uploaded to {env['MLOPS_ARTIFACT_STORE']}" in again.stdout


def test_two_clones_pushing_the_same_artifact_at_once_both_succeed_with_one_blob(
    store: tuple[dict[str, str], Endpoint], trained_before_the_store: tuple[Path, str], tmp_path: Path
) -> None:
    env, endpoint = store
    root, sha256 = trained_before_the_store
    other = clone(tmp_path, "b")
    shutil.copytree(root / ".mlops" / "artifacts", other / ".mlops" / "artifacts")  # it trained the same bytes
    pushes = [
        subprocess.Popen(
            [sys.executable, "-m", "mlopsctl", "--repo", str(machine), "registry", "push", "churn@1", "-o", "json"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for machine in (root, other)
    ]
    outcomes = []
    for push in pushes:
        stdout, stderr = push.communicate(timeout=300)
        assert push.returncode == 0, stdout + stderr
        outcomes.append(json.loads(stdout)["artifacts"][0]["outcome"])
    assert set(outcomes) <= {"uploaded", "already in the store"}
    if env["MLOPS_ARTIFACT_STORE"].startswith("s3://"):
        listed = s3_client(endpoint).list_objects_v2(Bucket="team", Prefix="models/artifacts/")
        assert [entry["Key"] for entry in listed["Contents"]] == [f"models/artifacts/sha256/{sha256}"]
    else:
        assert registry_blob_file(Path(endpoint.log).parent, sha256).is_file()
    assert verified_on_a_fresh_clone(tmp_path, env, "c") == "verified"


def test_push_without_a_shared_store_is_a_usage_error(trained_before_the_store: tuple[Path, str]) -> None:
    root, _ = trained_before_the_store
    pushed = run_cli_process("--repo", str(root), "registry", "push", "churn@1")
    assert pushed.code == 2, pushed.stdout + pushed.stderr
    assert (
        "No shared artifact store: registry push copies this machine's artifacts to a shared store, and the "
        "artifact store here is the folder .mlops/artifacts"
    ) in pushed.stderr
    assert "export MLOPS_ARTIFACT_STORE=oci://HOST/NAMESPACE (or s3://BUCKET/PREFIX)" in pushed.stderr


def test_an_artifact_on_no_machine_and_not_in_the_store_is_exit_1_naming_it(
    store: tuple[dict[str, str], Endpoint], trained_before_the_store: tuple[Path, str], tmp_path: Path
) -> None:
    env, _ = store
    _, sha256 = trained_before_the_store
    other = clone(tmp_path, "b")
    pushed = run_cli_process("--repo", str(other), "registry", "push", "--all", env=env)
    assert pushed.code == 1, pushed.stdout + pushed.stderr
    assert f"churn@1 {sha256[:10]}" in pushed.stdout and "not on this machine" in pushed.stdout
    assert (
        f"Artifact missing: not in {env['MLOPS_ARTIFACT_STORE']} and not on this machine: churn@1 "
        f"(sha256:{sha256[:12]})"
    ) in pushed.stderr
