"""The prediction log: request ids, and every answer written to bounded, rotating JSON-lines files.

The request path only hands a tuple to a bounded queue (``put_nowait``); a background thread turns
entries into JSON lines and writes them. When the queue is full the entry is dropped and counted
(``mlops_prediction_log_dropped_total``): a slow disk never slows or blocks an answer.

Files live in one folder (names in :mod:`mlopsctl.contract.predictionlog`):
``predictions-<start ns>-<pid>.jsonl``, a new file once the current one reaches ``max_bytes``;
past ``keep_files`` rotated files, the oldest are deleted. One line per logged request::

    {"id": "...", "time": 1733250000.1, "model": "churn", "version": "3", "role": "stable",
     "spec_commit": "...", "artifact_sha256": "...", "rows": 1,
     "inputs": {"age": [41.0], ...}, "outputs": [1], "probabilities": [[0.2, 0.8]]}

Missing numeric inputs are written as ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlopsctl.contract.predictionlog import LABELS_FILE, PREFIX, SUFFIX, log_files

log = logging.getLogger("mlopsctl.serve")

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
QUEUE_ENTRIES = 65_536
"""Entries waiting for the writer before new ones are dropped (about a minute of a busy service)."""
_STOP = None


@dataclass(frozen=True)
class LogSettings:
    """Where and how much to log (from the spec's ``serving.prediction_log``)."""

    folder: Path
    sample: float = 1.0
    max_bytes: int = 67_108_864
    keep_files: int = 8


class RequestIds:
    """Fast unique ids: a random per-process prefix and a counter (no syscall per request)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._next = 0

    def new(self) -> str:
        self._next += 1
        return f"{self._prefix}-{self._next:x}"


def caller_id(value: str | None) -> str | None:
    """The caller's ``X-Request-Id`` when it is a sane token; raises ValueError when it is not."""
    if value is None:
        return None
    if REQUEST_ID.fullmatch(value) is None:
        raise ValueError(f"{REQUEST_ID_HEADER} must be 1 to 128 characters of A-Z a-z 0-9 . _ : -")
    return value


class PredictionLog:
    """A bounded queue and the thread that writes it to rotating files."""

    def __init__(self, settings: LogSettings, capacity: int = QUEUE_ENTRIES) -> None:
        self.settings = settings
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(capacity)
        self._file: Any = None
        self._size = 0
        settings.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="mlops-prediction-log", daemon=True)
        self._thread.start()

    def submit(self, entry: tuple[Any, ...]) -> bool:
        """Queue one entry (see :func:`line`); False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                entries = [self._queue.get()]
                entries.extend(self._drain())
                stop = _STOP in entries
                self._write([e for e in entries if e is not _STOP])
                if stop:
                    break
        except Exception:  # a full disk must not take the service down: log and keep answering
            log.exception("the prediction log writer stopped")
        finally:
            if self._file is not None:
                self._file.close()

    def _drain(self, most: int = 1024) -> Iterator[tuple[Any, ...] | None]:
        for _ in range(most):
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def _write(self, entries: list[tuple[Any, ...]]) -> None:
        for entry in entries:
            data = (json.dumps(line(*entry), separators=(",", ":")) + "\n").encode()
            if self._file is None or (self._size + len(data) > self.settings.max_bytes and self._size > 0):
                self._rotate()
            self._file.write(data)
            self._size += len(data)
        if self._file is not None:
            self._file.flush()
        self.written += len(entries)

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
        name = f"{PREFIX}{time.time_ns():020d}-{os.getpid()}{SUFFIX}"
        self._file = open(self.settings.folder / name, "ab")  # noqa: SIM115 (kept open across writes)
        self._size = 0
        self._prune()

    def _prune(self) -> None:
        files = log_files(self.settings.folder)
        for old in files[: max(0, len(files) - self.settings.keep_files - 1)]:
            old.unlink(missing_ok=True)


def line(
    request_id: str,
    at: float,
    model: Any,
    columns: dict[str, list[Any]],
    rows: int,
    labels: np.ndarray[Any, Any],
    probabilities: np.ndarray[Any, Any] | None,
) -> dict[str, Any]:
    """One log line; ``model`` is the ServedModel that answered."""
    record = model.record
    document: dict[str, Any] = {
        "id": request_id,
        "time": at,
        "model": record.model,
        "version": str(record.version),
        "role": model.role,
        "spec_commit": record.spec_commit,
        "artifact_sha256": record.artifact.sha256,
        "rows": rows,
        "inputs": {name: [None if v != v else v for v in values] for name, values in columns.items()},
        "outputs": labels.tolist(),
    }
    if probabilities is not None:
        document["probabilities"] = probabilities.tolist()
    return document


def find_request(folder: Path, request_id: str) -> dict[str, Any] | None:
    """The logged answer to ``request_id`` in ``folder`` (rotated files included), newest file first.

    The answer the client got, not a shadow's (logged under the same id), unless only that is left.
    """
    needle = f'"id":{json.dumps(request_id)},'.encode()
    shadow = None
    for path in reversed(log_files(folder)):
        for found in _found_in(path, needle):
            if found.get("role") != "shadow":
                return found
            shadow = shadow or found
    return shadow


def _found_in(path: Path, needle: bytes) -> Iterator[dict[str, Any]]:
    try:
        with path.open("rb") as handle:
            for raw in handle:
                if raw.startswith(b"{" + needle):
                    try:
                        yield json.loads(raw)
                    except ValueError:  # a torn last line after a kill
                        continue
    except OSError:
        return


def serve_folder(state_dir: Path, model: str) -> Path:
    """Where ``mlopsctl serve`` logs a model's answers (and keeps its labels)."""
    return state_dir / "predictions" / "serve" / model


def env_folder(state_dir: Path, env: str, model: str) -> Path:
    """Where a deployment of ``model`` in ``env`` on the local target logs its answers."""
    return state_dir / "predictions" / "env" / env / model


__all__ = [
    "LABELS_FILE",
    "REQUEST_ID_HEADER",
    "LogSettings",
    "PredictionLog",
    "RequestIds",
    "caller_id",
    "env_folder",
    "find_request",
    "log_files",
    "serve_folder",
]
