"""What the faces ask of the run tracker: list, show and compare runs, and push local runs to a shared store.

Every function takes the repository root and finds the run store from ``mlops.yaml`` (or
``MLOPS_METADATA_STORE``), so runs stay readable while a model spec is broken: a SQLite file on
this machine, or a PostgreSQL database that shows every teammate's runs. A run is named by its id
or a unique prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.errors import UsageError
from mlopsctl.spec.database_uri import STORE_VARIABLE, DatabaseURI
from mlopsctl.spec.loader import scan_repo
from mlopsctl.tracking.compare import Comparison, compare_runs
from mlopsctl.tracking.store import FAILED, FINISHED, Run, RunStore, StoreLocation


def runs_database(root: Path) -> Path | DatabaseURI:
    """The run store named by mlops.yaml (or MLOPS_METADATA_STORE); readable even while a model spec is broken."""
    return scan_repo(root).metadata_db


def list_runs(root: Path, model: str | None = None, limit: int = 50) -> list[Run]:
    """The newest ``limit`` runs, of ``model`` or of every model, newest first."""
    with RunStore(runs_database(root)) as store:
        return store.list_runs(model, limit)


def show_run(root: Path, ref: str) -> Run:
    """The run whose id is ``ref``, or the only one whose id starts with it."""
    with RunStore(runs_database(root)) as store:
        return store.get(ref)


def compare(root: Path, refs: list[str]) -> Comparison:
    """The runs named by ``refs`` (ids or unique prefixes) side by side: only what differs."""
    return compare_in(runs_database(root), refs)


def compare_in(database: StoreLocation, refs: list[str]) -> Comparison:
    """:func:`compare` on the run store at ``database`` (a face that already opened the repository)."""
    with RunStore(database) as store:
        runs = [store.get(ref) for ref in refs]
    return compare_runs(runs)


@dataclass(frozen=True)
class PushResult:
    """What ``runs push`` copied from this machine's SQLite runs to the shared store."""

    source: str
    target: str
    local: int
    """Runs in the local file."""
    copied: int
    """Runs the shared store did not have yet (the others were pushed before: run ids are unique)."""

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "local": self.local, "copied": self.copied}


def push_runs(root: Path) -> PushResult:
    """Copy the runs of ``<state_dir>/runs.db`` that the shared store lacks; pushing again copies nothing."""
    repo = scan_repo(root)
    target = repo.metadata_db
    if not isinstance(target, DatabaseURI):
        raise UsageError(
            f"runs push copies this machine's runs to a shared store, and the run store here is the file {target}",
            title="No shared run store",
            hint=f"set metadata_store: postgresql://HOST[:PORT]/DATABASE in mlops.yaml, or {STORE_VARIABLE}",
        )
    local = repo.local_metadata_db
    if not local.is_file():
        return PushResult(str(local), _where(target), 0, 0)
    with RunStore(local, repo_root=repo.root) as source:
        rows = source.rows()
    with RunStore(target) as shared:
        copied = shared.add_missing(rows)
        return PushResult(str(local), shared.where, len(rows), copied)


def _where(target: DatabaseURI) -> str:
    with RunStore(target) as shared:  # also proves the store answers before saying there is nothing to push
        return shared.where


__all__ = [
    "FAILED",
    "FINISHED",
    "Comparison",
    "PushResult",
    "Run",
    "compare",
    "compare_in",
    "list_runs",
    "push_runs",
    "runs_database",
    "show_run",
]
