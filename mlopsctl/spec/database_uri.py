"""A run store named by URI (``postgresql://HOST[:PORT]/DATABASE``), and who chose it.

``metadata_store`` in mlops.yaml is repository content: whoever can commit can point it at any
host. ``MLOPS_METADATA_STORE`` is set by the runner. The difference decides whether the runner's
database credentials (PGPASSWORD, ~/.pgpass) may go along, so the location carries it
(:attr:`DatabaseURI.chosen_by_runner`) from where settings are loaded to where the store connects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

STORE_VARIABLE = "MLOPS_METADATA_STORE"
POSTGRES_SCHEMES = ("postgresql", "postgres")


def uri_scheme(location: str) -> str | None:
    """``postgresql`` for ``postgresql://...``; None for a path or ``file://`` URI (a SQLite file)."""
    if "://" not in location:
        return None
    scheme = location.split("://", 1)[0].lower()
    return None if scheme == "file" else scheme


def runner_chose_store() -> bool:
    """Whether the runner named the run store (``MLOPS_METADATA_STORE``), not the repository."""
    return bool(os.environ.get(STORE_VARIABLE, "").strip())


@dataclass(frozen=True)
class DatabaseURI:
    """A run store on a database server: its URI and whether the runner (not a commit) named it."""

    uri: str
    chosen_by_runner: bool = False

    @property
    def scheme(self) -> str:
        return uri_scheme(self.uri) or ""

    def __str__(self) -> str:
        return self.uri
