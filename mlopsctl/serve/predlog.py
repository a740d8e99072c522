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
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.contract.predictionlog import LABELS_FILE, PREFIX, SUFFIX, log_files

log = logging.getLogger("mlopsctl.serve")

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
QUEUE_ENTRIES = 65_536
"""Entries waiting for the writer before new ones are dropped (seconds of a very busy service)."""
FLUSH_SECONDS = 0.1
"""How often the writer wakes to write what the requests queued."""


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
    """A bounded queue and the thread that writes it to rotating files.

    The queue is a plain deque: ``append`` needs no lock and wakes nobody, so the request path
    pays a length check and an append. The writer wakes every ``FLUSH_SECONDS`` and writes what
    piled up in one go (waking it per request cost a thread switch per answer, about half the
    throughput of one-row requests).
    """

    def __init__(self, settings: LogSettings, capacity: int = QUEUE_ENTRIES) -> None:
        self.settings = settings
        self.capacity = capacity
        self.dropped = 0
        self.written = 0
        self._pending: deque[tuple[Any, ...]] = deque()
        self._stopping = threading.Event()
        self._file: Any = None
        self._size = 0
        self._statics: dict[int, str] = {}
        settings.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="mlops-prediction-log", daemon=True)
        self._thread.start()

    def submit(self, entry: tuple[Any, ...]) -> bool:
        """Queue (request id, time, served model, batch columns, rows, labels, probabilities);
        False (and counted in ``dropped``) when the queue is full."""
        if len(self._pending) >= self.capacity:
            self.dropped += 1
            return False
        self._pending.append(entry)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        self._stopping.set()
        self._thread.join(timeout)

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                stopping = self._stopping.wait(FLUSH_SECONDS)
                self._write_pending()
                if stopping:
                    break
        except Exception:  # a full disk must not take the service down: log and keep answering
            log.exception("the prediction log writer stopped")
        finally:
            if self._file is not None:
                self._file.close()

    def _write_pending(self) -> None:
        pending, count = self._pending, 0
        chunks: list[bytes] = []
        while pending:
            data = self._encode(pending.popleft())
            if self._file is None or (self._size + len(data) > self.settings.max_bytes and self._size > 0):
                self._flush(chunks)
                self._rotate()
            chunks.append(data)
            self._size += len(data)
            count += 1
        self._flush(chunks)
        self.written += count

    def _flush(self, chunks: list[bytes]) -> None:
        if chunks and self._file is not None:
            self._file.write(b"".join(chunks))
            self._file.flush()
            chunks.clear()

    def _encode(self, entry: tuple[Any, ...]) -> bytes:
        """One line; what never changes for a served version is encoded once."""
        request_id, at, model, columns, rows, labels, probabilities = entry
        static = self._statics.get(id(model))
        if static is None:
            static = self._statics[id(model)] = json.dumps(_static(model), separators=(",", ":"))[1:-1]
        inputs = {name: [None if v != v else v for v in values] for name, values in columns.items()}
        text = (
            f'{{"id":{json.dumps(request_id)},"time":{at!r},{static},"rows":{rows},'
            f'"inputs":{json.dumps(inputs, separators=(",", ":"))},'
            f'"outputs":{json.dumps(labels.tolist(), separators=(",", ":"))}'
        )
        if probabilities is not None:
            text += f',"probabilities":{json.dumps(probabilities.tolist(), separators=(",", ":"))}'
        return (text + "}\n").encode()

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
        name = f"{PREFIX}{time.time_ns():020d}-{os.getpid()}{SUFFIX}"
        # Owner-only: the log holds what clients sent, which may be personal data.
        descriptor = os.open(self.settings.folder / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(descriptor, "ab")
        self._size = 0
        self._prune()

    def _prune(self) -> None:
        files = log_files(self.settings.folder)
        for old in files[: max(0, len(files) - self.settings.keep_files - 1)]:
            old.unlink(missing_ok=True)


def _static(model: Any) -> dict[str, Any]:
    record = model.record
    return {
        "model": record.model,
        "version": str(record.version),
        "role": model.role,
        "spec_commit": record.spec_commit,
        "artifact_sha256": record.artifact.sha256,
    }


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
