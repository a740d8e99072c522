"""The prediction log's files, shared by the service that writes them and whoever reads them back.

A log folder holds ``predictions-<start ns>-<pid>.jsonl`` files (one JSON object per answered
request: ``id``, ``time``, ``model``, ``version``, ``role``, ``spec_commit``, ``artifact_sha256``,
``rows``, ``inputs`` (column -> values), ``outputs`` and, for classifiers, ``probabilities``) and
``labels.jsonl`` (one object per label: ``id``, ``row``, ``label``, ``time``, ``model``,
``version``, ``role``).

:func:`labelled_rows` joins labels to the rows they label, one output row per labelled
(request id, row), with the features, the answer and the label: what live performance and
retraining on labelled traffic read. It uses Arrow's multithreaded JSON reader and hash join.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PREFIX = "predictions-"
SUFFIX = ".jsonl"
LABELS_FILE = "labels.jsonl"


def log_files(folder: Path) -> list[Path]:
    """The folder's prediction log files, oldest first (names sort by start time)."""
    try:
        return sorted(p for p in folder.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []


def labelled_rows(folder: Path) -> Any:
    """A pandas DataFrame: id, row, version, role, prediction, the input columns, label.

    An input column named like one of the others comes as ``input.<name>``.
    """
    import pandas as pd
    import pyarrow as pa

    labels = _read(folder / LABELS_FILE)
    tables = [table for table in map(_read, log_files(folder)) if table is not None]
    if labels is None or not tables:
        return pd.DataFrame(columns=["id", "row", "version", "role", "prediction", "label"])
    labels = labels.select(["id", "row", "label"])
    logged = pa.concat_tables(tables, promote_options="permissive")
    answered = _one_row_each(logged)
    joined = answered.join(labels, keys=["id", "row"], join_type="inner", use_threads=True)
    return joined.to_pandas()


def _read(path: Path) -> Any:
    """The file's complete lines as an Arrow table (None when it has none or is gone)."""
    import pyarrow as pa
    from pyarrow import json as arrow_json

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    data = data[: data.rfind(b"\n") + 1]  # a torn last line (a kill mid-write) is left out
    if not data.strip():
        return None
    return arrow_json.read_json(pa.BufferReader(data), read_options=arrow_json.ReadOptions(block_size=1 << 24))


def _one_row_each(logged: Any) -> Any:
    """Requests of several rows become several rows (``row`` counts from 0 in each request)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    outputs = logged.column("outputs").combine_chunks()
    parents = pc.list_parent_indices(outputs)
    starts = pc.take(outputs.offsets, parents)
    rows = pa.array(np.arange(len(parents), dtype=np.int64)) if len(parents) else pa.array([], pa.int64())
    columns: dict[str, Any] = {
        "id": pc.take(logged.column("id"), parents),
        "row": pc.subtract(rows, pc.cast(starts, pa.int64())),
        "version": pc.take(logged.column("version"), parents),
        "role": pc.take(logged.column("role"), parents),
        "prediction": pc.list_flatten(outputs),
    }
    inputs = logged.column("inputs").combine_chunks()
    for index in range(inputs.type.num_fields):
        field = inputs.type.field(index)
        name = field.name if field.name not in columns else f"input.{field.name}"
        columns[name] = pc.list_flatten(inputs.field(index))
    return pa.table(columns)
