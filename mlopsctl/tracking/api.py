"""What the faces ask of the run tracker: list, show and compare runs of a model repository.

Every function takes the repository root and finds the runs database from ``mlops.yaml`` (so
runs stay readable while a model spec is broken); a run is named by its id or a unique prefix.
"""

from __future__ import annotations

from pathlib import Path

from mlopsctl.spec.loader import scan_repo
from mlopsctl.tracking.compare import Comparison, compare_runs
from mlopsctl.tracking.store import FAILED, FINISHED, Run, RunStore


def runs_database(root: Path) -> Path:
    """The runs database named by mlops.yaml; readable even while a model spec is broken."""
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


def compare_in(database: Path, refs: list[str]) -> Comparison:
    """:func:`compare` on the runs database at ``database`` (a face that already opened the repository)."""
    with RunStore(database) as store:
        runs = [store.get(ref) for ref in refs]
    return compare_runs(runs)


__all__ = ["FAILED", "FINISHED", "Comparison", "Run", "compare", "compare_in", "list_runs", "runs_database", "show_run"]
