"""PostgreSQL, through psycopg 3: the shared run store's connection, and who gets the credentials.

libpq sends a password on its own: from PGPASSWORD, from ``~/.pgpass`` (or PGPASSFILE), and a
client certificate from ``~/.postgresql/``. A ``metadata_store`` in mlops.yaml is repository
content, so a hostile commit could point it at a server that collects them. The runner's
credentials therefore go only to a store the runner chose:

* ``MLOPS_METADATA_STORE`` (set by the runner) names the store: libpq's usual sources apply;
* a host (``HOST`` or ``HOST:PORT``) listed in ``MLOPS_METADATA_TRUSTED_HOSTS`` (comma separated),
  or in the user config's ``metadata.trusted_hosts``: the same;
* any other store named by mlops.yaml is reached with no credential at all: an empty password,
  an empty password file, no client certificate, and ``require_auth=none`` (libpq refuses any
  authentication request before anything is sent). A server that asks for a password gets none,
  and the user is told how to choose the store. A local socket named by mlops.yaml is refused.

The host judged is the one libpq will use (query parameters such as ``?host=`` included). Every
connection waits at most :data:`CONNECT_SECONDS`, and is recorded in the operation log (kind
``postgres``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlopsctl import oplog
from mlopsctl.errors import MlopsError, NotFound, StoreUnreachable, UsageError
from mlopsctl.spec.database_uri import POSTGRES_SCHEMES, STORE_VARIABLE, DatabaseURI

if TYPE_CHECKING:
    import psycopg

KIND = "postgres"
CONNECT_SECONDS = 5
TRUSTED_HOSTS_VARIABLE = "MLOPS_METADATA_TRUSTED_HOSTS"
DEFAULT_PORT = "5432"
CHOOSE_HINT = (
    f"to send your credentials to it, choose the store yourself: export {STORE_VARIABLE}=URI, or list the "
    f"host in {TRUSTED_HOSTS_VARIABLE} (or metadata.trusted_hosts in ~/.config/mlopsctl/config.yaml)"
)
RUNNER_SETTINGS = frozenset(
    {"password", "passfile", "service", "servicefile", "sslkey", "sslcert", "sslpassword", "krbsrvname", "gsslib"}
)
"""libpq settings that name the runner's secrets or files: never taken from a URI in mlops.yaml."""
WITHOUT_CREDENTIALS: dict[str, Any] = {"password": "", "require_auth": "none", "sslcertmode": "disable"}
"""libpq settings that send nothing that identifies the runner (the password file is set per connection)."""


class CredentialsWithheld(MlopsError):
    """The server asks for credentials, and the repository, not the runner, named it."""

    title = "Run store credentials withheld"


def connect(location: DatabaseURI) -> psycopg.Connection[dict[str, Any]]:
    """An autocommit connection whose rows are dicts; every refusal is an MlopsError naming the store."""
    params = _parsed(location)
    trusted = location.chosen_by_runner or _host_trusted(params)
    if not location.chosen_by_runner:
        _refuse_runner_settings(params)
    if not trusted:
        _refuse_local_socket(location, params)
    where = describe(params)
    try:
        with _credential_settings(trusted) as settings:
            connection = _open(location.uri, settings)
    except MlopsError:
        raise
    except Exception as exc:  # psycopg.OperationalError, kept lazy: psycopg loads only for this store
        oplog.record(KIND, f"connect {where}", False, _first_line(exc))
        raise _connect_error(where, params, exc, trusted) from None
    oplog.record(KIND, f"connect {where}", True)
    return connection


def describe(params: dict[str, Any]) -> str:
    """``postgresql://HOST:PORT/DATABASE`` as the user reads it in a message (never a password)."""
    host = params.get("host") or params.get("hostaddr") or "(local socket)"
    return f"postgresql://{host}:{params.get('port') or DEFAULT_PORT}/{params.get('dbname') or ''}"


def _parsed(location: DatabaseURI) -> dict[str, Any]:
    if location.scheme not in POSTGRES_SCHEMES:
        raise UsageError(
            f"metadata_store '{location.uri}' is neither a SQLite file nor a postgresql:// URI",
            title="Unknown run store",
            hint="write a path (e.g. .mlops/runs.db) or postgresql://HOST[:PORT]/DATABASE",
        )
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(location.uri)
    except Exception as exc:  # psycopg.ProgrammingError: libpq could not parse it
        raise UsageError(
            f"metadata_store '{location.uri}' is not a valid PostgreSQL URI: {_first_line(exc)}",
            title="Unknown run store",
            hint="write postgresql://[USER@]HOST[:PORT]/DATABASE[?sslmode=require]",
        ) from None


def _hosts(params: dict[str, Any]) -> list[str]:
    """Every host libpq may connect to (host and hostaddr are comma-separated lists)."""
    names = [part for key in ("host", "hostaddr") for part in str(params.get(key) or "").split(",")]
    return [name.strip() for name in names if name.strip()]


def _host_trusted(params: dict[str, Any]) -> bool:
    trusted = {entry.lower() for entry in trusted_hosts()}
    port = str(params.get("port") or DEFAULT_PORT).split(",")[0]
    hosts = _hosts(params)
    return bool(hosts) and all(host.lower() in trusted or f"{host}:{port}".lower() in trusted for host in hosts)


def trusted_hosts() -> list[str]:
    """Hosts whose run store may get the runner's credentials even when mlops.yaml named it."""
    listed = [part.strip() for part in os.environ.get(TRUSTED_HOSTS_VARIABLE, "").split(",") if part.strip()]
    from mlopsctl.spec.userconfig import load_user_config

    return listed + load_user_config().metadata.trusted_hosts


def _refuse_runner_settings(params: dict[str, Any]) -> None:
    """A URI from mlops.yaml may not name the runner's files or secrets (even for a trusted host)."""
    named = sorted(RUNNER_SETTINGS & set(params))
    if named:
        raise UsageError(
            f"metadata_store in mlops.yaml sets {', '.join(named)}, which only the runner may choose "
            "(files and secrets of the machine that runs mlopsctl)",
            title="Run store setting refused",
            hint=f"remove it from mlops.yaml; set it in {STORE_VARIABLE} or the PG* environment instead",
        )


def _refuse_local_socket(location: DatabaseURI, params: dict[str, Any]) -> None:
    hosts = _hosts(params)
    if not hosts or any(host.startswith(("/", "@")) for host in hosts):
        raise CredentialsWithheld(
            f"mlops.yaml names a run store on a local socket ('{location.uri}'), where the database knows you "
            "by your system user: only you may choose that",
            hint=f"export {STORE_VARIABLE}=URI to use it",
        )


@contextmanager
def _credential_settings(trusted: bool) -> Iterator[dict[str, Any]]:
    """libpq settings for this connection: libpq's own sources when trusted, else none at all."""
    if trusted:
        yield {}
        return
    handle, empty = tempfile.mkstemp(prefix="mlopsctl-nopass-")  # 0600, so libpq reads it without a warning
    os.close(handle)
    try:
        yield {**WITHOUT_CREDENTIALS, "passfile": empty}
    finally:
        os.unlink(empty)


def _open(uri: str, settings: dict[str, Any]) -> psycopg.Connection[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    return psycopg.connect(
        uri,
        autocommit=True,
        row_factory=dict_row,
        connect_timeout=CONNECT_SECONDS,
        application_name="mlopsctl",
        **settings,
    )


def _connect_error(where: str, params: dict[str, Any], exc: Exception, trusted: bool) -> MlopsError:
    reason = _reason(exc)
    lowered = str(exc).lower()
    user = params.get("user") or "(your system user name)"
    if not trusted and ("no password supplied" in lowered or 'requirement "none" failed' in lowered):
        return CredentialsWithheld(
            f"the run store {where} asks for a password; mlops.yaml (repository content) named it, so no "
            "password (PGPASSWORD, ~/.pgpass, PGPASSFILE) was sent",
            hint=CHOOSE_HINT,
        )
    if "authentication failed" in lowered or "no password supplied" in lowered:
        return MlopsError(
            f"the run store {where} refused the login of user '{user}': {reason}",
            title="Run store login refused",
            hint="check PGPASSWORD or ~/.pgpass (and the user in the URI)",
        )
    if "does not exist" in lowered and "database" in lowered:
        return NotFound(
            f"the run store {where}: {reason}",
            hint="create the database (createdb) or correct the URI in metadata_store / " + STORE_VARIABLE,
        )
    return StoreUnreachable(
        f"the run store {where} does not answer: {reason}",
        hint=f"check that PostgreSQL runs there and is reachable (waited at most {CONNECT_SECONDS} s); "
        f"the store comes from metadata_store in mlops.yaml or {STORE_VARIABLE}",
    )


def _reason(exc: Exception) -> str:
    """libpq's reason without the 'connection to server at ... failed:' preamble psycopg adds."""
    text = str(exc).strip()
    marker = "failed: "
    last = text.rsplit(marker, 1)[-1] if marker in text else text
    return last.strip().splitlines()[0].strip() if last.strip() else type(exc).__name__


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
