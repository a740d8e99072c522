"""The queries both run store backends share: only the parameter mark and the transactions differ.

SQLite marks parameters with ``?`` and takes a write lock per write (``BEGIN IMMEDIATE``, so
concurrent writers queue up); psycopg marks them with ``%s`` and runs each statement on its own in
autocommit. A backend says which, and every query below is written once.
"""

from __future__ import annotations

import contextlib
from typing import Any

Row = dict[str, Any]


class SqlRows:
    """Rows of the ``runs`` table through a DB-API connection whose rows are dicts."""

    MARK = "?"
    """The connection's parameter mark."""
    _db: Any

    def _guard(self) -> contextlib.AbstractContextManager[None]:
        """Database errors -> the store's own MlopsError (a backend's override)."""
        return contextlib.nullcontext()

    def _one_write(self) -> contextlib.AbstractContextManager[None]:
        """Around one writing statement (a backend's override: a transaction, or nothing in autocommit)."""
        return contextlib.nullcontext()

    def _insert_sql(self, row: Row) -> str:
        return f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join(self.MARK for _ in row)})"

    def insert(self, row: Row) -> None:
        with self._guard(), self._one_write():
            self._db.execute(self._insert_sql(row), tuple(row.values()))

    def update(self, run_id: str, row: Row) -> None:
        assignments = ", ".join(f"{name} = {self.MARK}" for name in row)
        with self._guard(), self._one_write():
            self._db.execute(f"UPDATE runs SET {assignments} WHERE id = {self.MARK}", (*row.values(), run_id))

    def matching(self, ref: str, like_prefix: str) -> list[Row]:
        """Runs whose id is ``ref`` or matches ``like_prefix`` (a LIKE pattern escaped with ``\\``)."""
        mark = self.MARK
        query = f"SELECT * FROM runs WHERE id = {mark} OR id LIKE {mark} ESCAPE '\\' ORDER BY started"
        with self._guard():
            found: list[Row] = self._db.execute(query, (ref, like_prefix)).fetchall()
        return found

    def select(self, model: str | None, limit: int | None) -> list[Row]:
        query = "SELECT * FROM runs"
        args: list[Any] = []
        if model is not None:
            query += f" WHERE model = {self.MARK}"
            args.append(model)
        query += " ORDER BY started DESC"
        if limit is not None:
            query += f" LIMIT {self.MARK}"
            args.append(limit)
        with self._guard():
            found: list[Row] = self._db.execute(query, args).fetchall()
        return found

    def running_on(self, host: str, status: str) -> list[Row]:
        mark = self.MARK
        query = f"SELECT id, pid, pid_started, started FROM runs WHERE status = {mark} AND host = {mark}"
        with self._guard():
            found: list[Row] = self._db.execute(query, (status, host)).fetchall()
        return found
