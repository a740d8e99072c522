"""The shared run store: the same ``runs`` table on a PostgreSQL server the team shares.

It mirrors the SQLite schema's versions and columns (JSON kept as text, so a run reads back
exactly as it was written, whichever store holds it). The version lives in a ``schema_version``
table (one row per applied version). Migrations run in one transaction under an advisory lock,
so two clients that start at once never migrate twice: the second waits, then finds the schema
current. The connection (and who may send credentials) is :mod:`mlopsctl.ports.postgres`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mlopsctl.errors import MlopsError, StoreUnreachable
from mlopsctl.ports.postgres import connect
from mlopsctl.spec.database_uri import DatabaseURI
from mlopsctl.tracking.sql import Row, SqlRows
from mlopsctl.tracking.sqlite import MIGRATIONS as SQLITE_MIGRATIONS, SCHEMA_VERSION

MIGRATION_LOCK = 0x6D6C6F70735F7275  # any constant bigint: "mlops_ru"
"""The advisory lock every client takes before migrating."""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    version: tuple(statement.replace(" REAL", " DOUBLE PRECISION") for statement in statements)
    for version, statements in SQLITE_MIGRATIONS.items()
}
"""SQLite's versions and columns, written once (:data:`mlopsctl.tracking.sqlite.MIGRATIONS`); REAL is DOUBLE
PRECISION here."""

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


class PostgresBackend(SqlRows):
    MARK = "%s"  # psycopg's parameter mark; statements run in autocommit, one at a time

    """Rows of the ``runs`` table in the PostgreSQL database at ``location``."""

    def __init__(self, location: DatabaseURI) -> None:
        self._db = connect(location)
        info = self._db.info
        self.where = f"postgresql://{info.host}:{info.port}/{info.dbname}"
        try:
            with self._guard():
                self._migrate()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ schema

    def _migrate(self) -> None:
        if self._schema_version() == SCHEMA_VERSION:
            return  # the common case: no lock, one query
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            self._db.execute(VERSION_TABLE)
            current = self._schema_version()
            self._refuse_newer(current)
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    self._db.execute(statement)
                self._db.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    def _schema_version(self) -> int:
        present = self._db.execute("SELECT to_regclass('schema_version') IS NOT NULL AS present").fetchone()
        if not present or not present["present"]:
            return 0
        found = self._db.execute("SELECT coalesce(max(version), 0) AS version FROM schema_version").fetchone()
        return int(found["version"]) if found else 0

    def _refuse_newer(self, current: int) -> None:
        if current > SCHEMA_VERSION:
            raise MlopsError(
                f"the run store {self.where} has schema version {current}; this mlopsctl knows {SCHEMA_VERSION}",
                title="Run store too new",
                hint="upgrade mlopsctl (a teammate's newer mlopsctl upgraded the shared store)",
            )

    # ------------------------------------------------------------------ rows

    def insert_new(self, rows: list[Row]) -> int:
        """Insert the rows whose id is not here yet, in one transaction; returns how many were inserted."""
        inserted = 0
        with self._guard(), self._db.transaction():
            for row in rows:
                cursor = self._db.execute(self._insert_sql(row) + " ON CONFLICT (id) DO NOTHING", tuple(row.values()))
                inserted += max(cursor.rowcount, 0)
        return inserted

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.OperationalError as exc:
            raise StoreUnreachable(
                f"the run store {self.where} stopped answering: {_first_line(exc)}",
                hint="check that the PostgreSQL server runs and is reachable, then try again",
            ) from None
        except psycopg.Error as exc:
            raise MlopsError(
                f"the run store {self.where} refused a query: {_first_line(exc)}",
                title="Run store error",
                hint="check the database's permissions for your user (it needs CREATE on first use)",
            ) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
