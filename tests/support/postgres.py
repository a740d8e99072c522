"""A real PostgreSQL server for the shared run store tests (issue 14): Debian's postgresql-15.

One server per test session (:func:`start_postgres`), in a temporary folder, listening on 127.0.0.1
only on a free port with its unix socket in that folder, and stopped (and removed) at the end. TCP
logins need a password (scram-sha-256), so the credential rules are tested for real: the role
:data:`ROLE` has the password :data:`PASSWORD`, and each test gets its own database (cheap).

Root cannot run postgres: as root, ``initdb`` and ``pg_ctl`` run as the ``postgres`` user
(``runuser``) in a folder chowned to it. Missing binaries skip the test, or fail it under
``CI=true`` (scripts/services.sh installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import free_port, missing_service

BIN = Path(os.environ.get("MLOPSCTL_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROLE = "mlops"
PASSWORD = "mlops-secret"
SUPERUSER_PASSWORD = "super-secret"
START_SECONDS = 60


def postgres_available() -> bool:
    return all((BIN / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))


def require_postgres() -> None:
    """Skip without PostgreSQL's binaries, or fail under ``CI=true``."""
    if not postgres_available():
        missing_service(f"PostgreSQL 15 binaries not found in {BIN}; run scripts/services.sh as root to install them")


@dataclass(frozen=True)
class PostgresDatabase:
    """One database of the test server, owned by :data:`ROLE`."""

    port: int
    name: str

    @property
    def uri(self) -> str:
        """Its URI without a password, as mlops.yaml or MLOPS_METADATA_STORE names it."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{self.name}"

    @property
    def uri_with_password(self) -> str:
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{self.name}"


class PostgresServer:
    """A running test server; :meth:`database` creates a fresh database in it."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def admin_uri(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def database(self) -> PostgresDatabase:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_uri(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{name}" OWNER {ROLE}')
        return PostgresDatabase(self.port, name)

    def log_tail(self) -> str:
        log = self.folder / "server.log"
        return log.read_text(errors="replace")[-3000:] if log.is_file() else ""


def _as_postgres(command: list[str]) -> list[str]:
    """Root cannot run the server: run as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], folder: Path) -> None:
    proc = subprocess.run(
        _as_postgres(command), cwd=folder, capture_output=True, text=True, timeout=START_SECONDS, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-1500:]}"
        )


def _make_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="mlopsctl-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    return folder


def _initdb(folder: Path) -> None:
    password_file = folder / "superuser.pw"
    password_file.write_text(SUPERUSER_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(password_file, "postgres", "postgres")
    _run(
        [
            str(BIN / "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            "postgres",
            f"--pwfile={password_file}",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ],
        folder,
    )
    password_file.unlink()


def _start(folder: Path, port: int) -> None:
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder} -c fsync=off"
    log = folder / "server.log"
    _run(
        [str(BIN / "pg_ctl"), "-D", str(folder / "data"), "-l", str(log), "-o", options, "-w", "-t", "30", "start"],
        folder,
    )


def _create_role(server: PostgresServer) -> None:
    import psycopg

    with psycopg.connect(server.admin_uri(), autocommit=True, connect_timeout=10) as connection:
        connection.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")


@contextmanager
def start_postgres() -> Iterator[PostgresServer]:
    """A server on a free 127.0.0.1 port with the role :data:`ROLE`, stopped and removed afterwards."""
    require_postgres()
    folder = _make_folder()
    server = PostgresServer(folder, free_port())
    try:
        _initdb(folder)
        _start(folder, server.port)
        _create_role(server)
        yield server
    finally:
        if (folder / "data" / "postmaster.pid").exists():
            stop = [str(BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "-w", "-t", "30", "stop"]
            subprocess.run(_as_postgres(stop), cwd=folder, capture_output=True, timeout=START_SECONDS, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the test session (skipped, or failed under CI=true, without PostgreSQL)."""
    with start_postgres() as server:
        yield server


@pytest.fixture
def pg_database(postgres_server: PostgresServer) -> PostgresDatabase:
    """A fresh, empty database of the session's server, owned by :data:`ROLE`."""
    return postgres_server.database()
