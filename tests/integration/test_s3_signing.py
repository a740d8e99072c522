"""S3 follows the OCI store's credential rule (issue 14): requests are signed with the user's
credentials only for a bucket the runner chose (``MLOPS_ARTIFACT_STORE``); a bucket named by
mlops.yaml alone gets unsigned requests, and a refusal says how to choose the store. Seen from a
loopback endpoint that refuses everything and records what it was sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli_process
from tests.support.recording_endpoint import refusing_endpoint
from tests.support.team_repo import name_store_in_repo, record_files, team_repo

pytestmark = pytest.mark.slow
URI = "s3://team/models"


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[dict[str, str]]]]:
    with refusing_endpoint() as found:
        yield found


def aws(url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "team-key",
        "AWS_SECRET_ACCESS_KEY": "team-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_a_bucket_named_by_the_repository_gets_unsigned_requests(
    endpoint: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, seen = endpoint
    root = team_repo(tmp_path)
    name_store_in_repo(root, URI)
    trained = run_cli_process("--repo", str(root), "train", "churn", env=aws(url))
    assert trained.code == 1, trained.stdout + trained.stderr
    assert (
        f"Store refused access: the S3 store {URI} refused an anonymous request (403: Forbidden); it is named by "
        "mlops.yaml, and mlopsctl signs requests only for a store you chose"
    ) in trained.stderr
    assert f"choose it on this machine: export MLOPS_ARTIFACT_STORE={URI}" in trained.stderr
    assert seen and all("authorization" not in headers for headers in seen)
    assert record_files(root) == []


def test_the_runners_bucket_gets_signed_requests_and_a_refusal_names_the_credentials(
    endpoint: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, seen = endpoint
    root = team_repo(tmp_path)
    trained = run_cli_process("--repo", str(root), "train", "churn", env={**aws(url), "MLOPS_ARTIFACT_STORE": URI})
    assert trained.code == 1, trained.stdout + trained.stderr
    assert f"Store refused access: the S3 store {URI} refused this machine's credentials (403: Forbidden)" in (
        trained.stderr
    )
    assert seen and all(headers["authorization"].startswith("AWS4-HMAC-SHA256") for headers in seen)
    assert record_files(root) == []
