"""``mlopsctl feedback FILE``: labels from a file posted to a running service's ``POST /feedback``.

The file is CSV with a header (``id,label`` and optionally ``row``) or JSON lines
(``{"id": ..., "label": ..., "row": ...}``). CSV labels are read as integers, then numbers, else
text (``1`` is the class 1, ``yes`` the class "yes"). Labels go in batches of ``BATCH_ROWS``; a
batch the service refuses names its bad rows, which are reported (with the file's line) and left
out while the rest of the batch is sent again, so one bad row never costs the good ones.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.errors import NotFound, UnreachableError, UsageError
from mlopsctl.monitor.targets import deployment_endpoints
from mlopsctl.ports import http
from mlopsctl.spec.loader import Repo

BATCH_ROWS = 500
TIMEOUT = 30.0


@dataclass(frozen=True)
class LabelRow:
    line: int
    """Line of the file (1-based, the CSV header is line 1)."""
    body: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    line: int
    id: Any
    status: int
    reason: str


@dataclass
class FeedbackSummary:
    """What the service took and what it refused, with why."""

    url: str
    file: str
    sent: int = 0
    accepted: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rejected": [asdict(r) for r in self.rejected]}


def service_url(repo: Repo, env: str | None, model: str | None, url: str | None) -> str:
    """``--url`` as given, else where ``model`` (the only one when None) answers in ``env``."""
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--url '{url}' is not an http(s) URL")
        return url.rstrip("/")
    if env is None:
        raise UsageError("say where the service runs", hint="--env ENV (a deployed model) or --url http://HOST:PORT")
    repo.environment(env)
    endpoints = deployment_endpoints(repo, env)
    models = sorted({e.model for e in endpoints})
    if model is None and len(models) > 1:
        raise UsageError(f"environment {env} serves {', '.join(models)}", hint="choose one with --model")
    chosen = [e for e in endpoints if model is None or e.model == model]
    if not chosen:
        raise NotFound(f"{model or 'no model'} is not deployed in environment {env}")
    return f"http://{chosen[0].instance}"


def send_feedback(url: str, path: Path, batch_rows: int = BATCH_ROWS) -> FeedbackSummary:
    """Post every label of ``path`` to ``url``/feedback in batches; the summary of what happened."""
    summary = FeedbackSummary(url, str(path))
    batch: list[LabelRow] = []
    for row in read_labels(path):
        batch.append(row)
        if len(batch) >= batch_rows:
            _send(url, batch, summary)
            batch = []
    if batch:
        _send(url, batch, summary)
    return summary


def _send(url: str, batch: list[LabelRow], summary: FeedbackSummary) -> None:
    summary.sent += len(batch)
    while batch:
        status, document = _post(url, batch)
        if status == 200:
            summary.accepted += int(document.get("accepted", len(batch)))
            return
        problems = document.get("problems") if isinstance(document, dict) else None
        if not isinstance(problems, list) or not problems:
            reason = document.get("error") if isinstance(document, dict) else None
            summary.rejected += [Rejected(r.line, r.body.get("id"), status, str(reason or status)) for r in batch]
            return
        bad = {int(p["index"]): p for p in problems if isinstance(p, dict) and isinstance(p.get("index"), int)}
        for index, problem in sorted(bad.items()):
            row = batch[index]
            summary.rejected.append(Rejected(row.line, row.body.get("id"), int(problem["status"]), problem["error"]))
        batch = [row for index, row in enumerate(batch) if index not in bad]


def _post(url: str, batch: list[LabelRow]) -> tuple[int, Any]:
    try:
        answer = http.request("POST", f"{url}/feedback", json_body={"labels": [r.body for r in batch]}, timeout=TIMEOUT)
    except http.NoAnswer as exc:
        raise UnreachableError(f"the service at {url} does not answer: {exc.reason}") from None
    try:
        return answer.status, answer.json()
    except ValueError:
        return answer.status, {"error": f"HTTP {answer.status} {answer.reason}"}


def read_labels(path: Path) -> Iterator[LabelRow]:
    """The label rows of a CSV or JSON-lines file, streamed."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise NotFound(f"no labels file at {path}") from None
    with handle:
        first = handle.readline()
        handle.seek(0)
        if first.lstrip().startswith("{"):
            yield from _json_lines(path, handle)
        else:
            yield from _csv_rows(path, handle)


def _json_lines(path: Path, handle: Any) -> Iterator[LabelRow]:
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{path}:{number}: not a JSON object: {exc}") from None
        if not isinstance(body, dict):
            raise UsageError(f"{path}:{number}: expected an object with id and label")
        yield LabelRow(number, body)


def _csv_rows(path: Path, handle: Any) -> Iterator[LabelRow]:
    reader = csv.DictReader(handle)
    missing = {"id", "label"} - set(reader.fieldnames or [])
    if missing:
        raise UsageError(f"{path}: the CSV header needs id and label columns; missing {', '.join(sorted(missing))}")
    for row in reader:
        body: dict[str, Any] = {"id": row["id"], "label": csv_value(row["label"] or "")}
        if row.get("row"):
            body["row"] = csv_value(row["row"])
        yield LabelRow(reader.line_num, body)


def csv_value(text: str) -> Any:
    """An integer, else a number, else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
