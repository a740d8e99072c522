"""Credentials go only to a store the runner chose (issue 14), proved against a real distribution
registry with htpasswd basic auth: the runner's store and the right password work both ways, the
same store named by mlops.yaml gets no credential at all (not the environment's, not the docker
login's), and a wrong password is a clear refusal (exit 1: the store answered)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli_process
from tests.support.apply_repo import git
from tests.support.stores import Endpoint, oci_registry
from tests.support.team_repo import clone, name_store_in_repo, record_files, register_commits, team_repo

pytestmark = pytest.mark.slow
USER, PASSWORD = "team", "s3cret-pass"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Endpoint]:
    with oci_registry(tmp_path / "registry", users={USER: PASSWORD}) as endpoint:
        yield endpoint


def credentials(password: str = PASSWORD) -> dict[str, str]:
    return {"MLOPS_OCI_USERNAME": USER, "MLOPS_OCI_PASSWORD": password, "MLOPS_ALLOW_INSECURE_LOOPBACK": "1"}


def test_the_runners_store_with_the_right_password_takes_and_gives_back_the_artifact(
    registry: Endpoint, tmp_path: Path
) -> None:
    uri = f"oci://{registry.url}/team/models"
    root = team_repo(tmp_path)
    env = {**credentials(), "MLOPS_ARTIFACT_STORE": uri}
    trained = run_cli_process("--repo", str(root), "train", "churn", env=env)
    assert trained.code == 0, trained.stdout + trained.stderr
    git(root, "push", "-q", "origin", "HEAD:main")
    other = clone(tmp_path, "b")
    shown = run_cli_process("--repo", str(other), "registry", "show", "churn@1", "-o", "json", env=env)
    assert shown.code == 0, shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["artifact_state"] == "verified"


def test_a_store_named_by_the_repository_gets_no_credentials(
    registry: Endpoint, tmp_path: Path, isolated_home: Path
) -> None:
    uri = f"oci://{registry.url}/team/models"
    root = team_repo(tmp_path)
    name_store_in_repo(root, uri)
    # the user's docker login for that very host: oras would read it for any host it is handed
    docker = isolated_home / ".docker"
    docker.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {registry.url: {"auth": auth}}}))
    trained = run_cli_process(
        "--repo", str(root), "train", "churn", env={**credentials(), "ORAS_USER": USER, "ORAS_PASS": PASSWORD}
    )
    assert trained.code == 1, trained.stdout + trained.stderr
    assert (
        f"Store refused access: the OCI store {uri} asks for credentials (HTTP 401); it is named by mlops.yaml, "
        "and mlopsctl sends credentials only to a store you chose"
    ) in trained.stderr
    assert f"choose it on this machine: export MLOPS_ARTIFACT_STORE={uri}" in trained.stderr
    assert (record_files(root), register_commits(root)) == ([], [])


def test_a_wrong_password_is_refused_with_exit_1_and_nothing_registered(registry: Endpoint, tmp_path: Path) -> None:
    uri = f"oci://{registry.url}/team/models"
    root = team_repo(tmp_path)
    env = {**credentials("wrong"), "MLOPS_ARTIFACT_STORE": uri}
    trained = run_cli_process("--repo", str(root), "train", "churn", env=env)
    assert trained.code == 1, trained.stdout + trained.stderr
    assert (
        f"the OCI store {uri} refused the credentials in MLOPS_OCI_USERNAME / MLOPS_OCI_PASSWORD (HTTP 401)"
    ) in trained.stderr
    assert (record_files(root), register_commits(root)) == ([], [])
