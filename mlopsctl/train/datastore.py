"""Data versions that travel: train stores the exact data file, ``reproduce`` reads it back.

At ``train`` the data file is checked against ``data_snapshot_max_bytes`` before anything is fitted,
then stored (content-addressed by the sha256 the record carries, see
:mod:`mlopsctl.registry.snapshots`) while the model fits, and the upload is confirmed before the
version is registered. ``reproduce`` reads the snapshot when the file at ``data.uri`` is missing or
holds other bytes. (``mlopsctl data pull`` is :mod:`mlopsctl.registry.datapull`: it needs no pandas.)
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from mlopsctl.contract.records import VersionRecord
from mlopsctl.data.load import Dataset, data_file, display_path, load_dataset
from mlopsctl.errors import PolicyRefused
from mlopsctl.registry.artifacts import short_digest
from mlopsctl.registry.snapshots import SIZE_SETTING, StoredSnapshot, snapshots_for
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import ModelSpec


class DataTooLarge(PolicyRefused):
    title = "Data too large to store"


# --------------------------------------------------------------------------- train


def require_storable(repo: Repo, spec: ModelSpec, data_path: Path | None) -> None:
    """Stop before fitting when the data file is larger than ``data_snapshot_max_bytes`` (0: never stored)."""
    limit = repo.settings.data_snapshot_max_bytes
    if limit == 0:
        return
    file = data_file(repo, spec, data_path)
    try:
        size = file.stat().st_size
    except OSError:
        return  # loading the data says what is wrong with the file
    if size > limit:
        raise DataTooLarge(
            f"{display_path(repo.root, file)} is {size:,} bytes, over {SIZE_SETTING} ({limit:,} bytes) in mlops.yaml: "
            "train stores the exact data file so that reproduce and data pull work on any machine",
            hint=f"raise {SIZE_SETTING} in mlops.yaml, or set it to 0 to train without storing the data "
            "(reproduce then needs the file itself)",
        )


class SnapshotUpload:
    """The data file stored in the background while the model fits; :meth:`result` waits and confirms.

    Leaving the ``with`` block waits for the upload to end, so a run that failed meanwhile still
    leaves the stores consistent (at worst an unnamed, content-addressed snapshot).
    """

    def __init__(self, repo: Repo, dataset: Dataset, *, enabled: bool = True) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._future: Future[StoredSnapshot] | None = None
        if not enabled or repo.settings.data_snapshot_max_bytes == 0:
            return
        snapshots = snapshots_for(repo)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlopsctl-data-snapshot")
        self._future = self._pool.submit(snapshots.store, dataset.path, dataset.fingerprint.sha256)

    def __enter__(self) -> SnapshotUpload:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def result(self) -> StoredSnapshot | None:
        """The stored snapshot (None when snapshots are off); raises what storing it raised."""
        if self._future is None:
            return None
        return self._future.result()


# --------------------------------------------------------------------------- reproduce


def snapshot_dataset(repo: Repo, spec: ModelSpec, record: VersionRecord, why: str) -> tuple[Dataset, str]:
    """The recorded data read from its snapshot (fetched from the store when this machine lacks it), and
    the line that says so (``why`` the file in the repository was not used)."""
    snapshots = snapshots_for(repo)
    path = snapshots.fetch(record.data.sha256, what=f"{record.ref}'s data")
    note = f"{why}; used the snapshot sha256:{short_digest(record.data.sha256)} from {snapshots.name}"
    return load_dataset(repo, spec, path, named=record.data.uri), note


__all__ = ["DataTooLarge", "SnapshotUpload", "require_storable", "snapshot_dataset"]
