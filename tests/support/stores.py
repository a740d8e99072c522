"""Real shared stores on loopback for the team tests (issue 14): Debian's ``docker-registry`` (the CNCF
distribution registry) and ``moto``'s standalone S3 server, each on a free 127.0.0.1 port with a
config and a folder of the test's own, stopped (and its folder removed) when the test ends.

Missing software skips the test, or fails it under ``CI=true`` (scripts/services.sh installs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.services import free_port, missing_service

READY_SECONDS = 30.0
REGISTRY_CONFIG = """\
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""
HTPASSWD_AUTH = """\
auth:
  htpasswd:
    realm: mlopsctl-test
    path: {path}
"""


@dataclass(frozen=True)
class Endpoint:
    """A started server: its port, its URL and its log file."""

    port: int
    url: str
    log: Path


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{url} did not answer within {READY_SECONDS:.0f} s: {log.read_text()[-2000:]}")


@contextmanager
def _serving(command: list[str], url: str, log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait(url, process, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def oci_registry(folder: Path, users: dict[str, str] | None = None) -> Iterator[Endpoint]:
    """A distribution registry on 127.0.0.1 storing under ``folder``; with ``users`` (name -> password),
    only they get in (htpasswd basic auth, which the registry accepts over plain http)."""
    exe = shutil.which("docker-registry")
    if exe is None:
        missing_service("docker-registry is not installed (run scripts/services.sh)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    text = REGISTRY_CONFIG.format(data=folder / "data", port=port)
    if users:
        text += HTPASSWD_AUTH.format(path=_htpasswd(folder / "htpasswd", users))
    config.write_text(text)
    endpoint = Endpoint(port, f"127.0.0.1:{port}", folder / "registry.log")
    with _serving([str(exe), "serve", str(config)], f"http://127.0.0.1:{port}/v2/", endpoint.log):
        yield endpoint


def _htpasswd(path: Path, users: dict[str, str]) -> Path:
    import bcrypt

    lines = [
        f"{name}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for name, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def registry_blob_file(folder: Path, sha256: str) -> Path:
    """Where the registry started with ``oci_registry(folder)`` keeps a blob's bytes on disk."""
    return folder / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / sha256[:2] / sha256 / "data"


def registry_blob_count(folder: Path) -> int:
    """How many blobs the registry holds (manifests and config blobs included)."""
    return sum(1 for _ in (folder / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256").glob("*/*/data"))


@contextmanager
def s3_server(folder: Path) -> Iterator[Endpoint]:
    """moto's S3 server on 127.0.0.1 (in memory; gone when it stops)."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        missing_service("moto[server] is not installed (pip install -e '.[dev]')")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    endpoint = Endpoint(port, f"http://127.0.0.1:{port}", folder / "moto.log")
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _serving(command, f"{endpoint.url}/moto-api/", endpoint.log, env={**os.environ}):
        yield endpoint


def s3_environment(endpoint: Endpoint) -> dict[str, str]:
    """What a runner sets to reach the S3 endpoint: boto3's own variables, no repository file."""
    return {
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": "team-key",
        "AWS_SECRET_ACCESS_KEY": "team-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def s3_client(endpoint: Endpoint) -> Any:
    """A boto3 client of the test's own, outside mlopsctl (to look at or tamper with the bucket)."""
    import boto3

    env = s3_environment(endpoint)
    return boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


def create_bucket(endpoint: Endpoint, bucket: str) -> None:
    s3_client(endpoint).create_bucket(Bucket=bucket)


@contextmanager
def team_store(kind: str, folder: Path) -> Iterator[tuple[dict[str, str], Endpoint]]:
    """A real ``oci`` or ``s3`` store and what a runner sets to choose it (bucket ``team``, prefix ``models``)."""
    if kind == "oci":
        with oci_registry(folder) as registry:
            yield {"MLOPS_ARTIFACT_STORE": f"oci://{registry.url}/team/models"}, registry
        return
    with s3_server(folder) as endpoint:
        create_bucket(endpoint, "team")
        yield {"MLOPS_ARTIFACT_STORE": "s3://team/models", **s3_environment(endpoint)}, endpoint
