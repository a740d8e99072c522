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
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
def oci_registry(folder: Path) -> Iterator[Endpoint]:
    """A distribution registry on 127.0.0.1 storing under ``folder``."""
    exe = shutil.which("docker-registry")
    if exe is None:
        missing_service("docker-registry is not installed (run scripts/services.sh)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(data=folder / "data", port=port))
    endpoint = Endpoint(port, f"127.0.0.1:{port}", folder / "registry.log")
    with _serving([str(exe), "serve", str(config)], f"http://127.0.0.1:{port}/v2/", endpoint.log):
        yield endpoint


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


def create_bucket(endpoint: Endpoint, bucket: str) -> None:
    import boto3  # type: ignore[import-untyped]

    env = s3_environment(endpoint)
    boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    ).create_bucket(Bucket=bucket)


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        missing_service("PostgreSQL is not installed (run scripts/services.sh)")
    return found[-1].parent


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its programs as the 'postgres' user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@contextmanager
def postgres_server() -> Iterator[Endpoint]:
    """A PostgreSQL cluster of its own on 127.0.0.1 (trust auth on loopback, user 'mlops'), removed after.

    Its folder is a fresh one under the system temp folder: as root the server runs as 'postgres',
    which cannot enter pytest's private temp folders.
    """
    binaries = _postgres_bin()
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="mlopsctl-pg-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    try:
        with _postgres_cluster(binaries, folder, port) as endpoint:
            yield endpoint
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _postgres_cluster(binaries: Path, folder: Path, port: int) -> Iterator[Endpoint]:
    data = folder / "data"
    runner = _as_postgres_user()
    subprocess.run(
        [*runner, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "mlops", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    endpoint = Endpoint(port, f"postgresql://mlops@127.0.0.1:{port}/postgres", folder / "postgres.log")
    command = [
        *runner,
        str(binaries / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        str(folder),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
    ]
    with endpoint.log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_postgres(endpoint, process)
        yield endpoint
    finally:
        process.terminate()  # smart shutdown: waits for clients; the fast one follows on timeout
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_postgres(endpoint: Endpoint, process: subprocess.Popen[bytes]) -> None:
    import psycopg

    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode}: {endpoint.log.read_text()[-2000:]}")
        try:
            with psycopg.connect(endpoint.url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"postgres on {endpoint.port} did not accept connections: {endpoint.log.read_text()[-2000:]}")


def create_database(endpoint: Endpoint, name: str) -> str:
    """A fresh database on the cluster; its URL."""
    import psycopg

    with psycopg.connect(endpoint.url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return endpoint.url.rsplit("/", 1)[0] + f"/{name}"
