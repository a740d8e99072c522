"""A service with its prediction log and feedback on, in a thread on loopback, and a raw HTTP client."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

from mlopsctl.serve.feedback import PerformanceSettings, Recorder
from mlopsctl.serve.predlog import LogSettings, log_files
from mlopsctl.serve.runner import ServerThread, make_app
from mlopsctl.serve.service import LoadedVersion, build_service
from tests.support.serving import Fitted


def logging_service(
    fit: Fitted,
    folder: Path,
    *,
    metric: str | None = "accuracy",
    max_bytes: int = 67_108_864,
    keep_files: int = 8,
    sample: float = 1.0,
    max_body_bytes: int = 1_048_576,
    shadow: Fitted | None = None,
) -> ServerThread:
    """A started ServerThread serving ``fit`` (and ``shadow`` as a shadow) with the prediction log in ``folder``."""
    from mlopsctl.serve.httpserver import Limits

    performance = PerformanceSettings(metric, 3600.0) if metric else None
    recorder = Recorder(LogSettings(folder, sample, max_bytes, keep_files), performance, seed=3)
    candidate = LoadedVersion(shadow.record, shadow.pipeline) if shadow is not None else None
    service = build_service(
        LoadedVersion(fit.record, fit.pipeline),
        candidate,
        strategy="shadow" if shadow is not None else None,
        max_rows=1000,
        seed=11,
        recorder=recorder,
    )
    return ServerThread(make_app(service, Limits(max_body_bytes=max_body_bytes))).start()


def post(url: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """One POST on a fresh connection: (status, lower-cased headers, parsed JSON body)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        data = response.read()
        found = {k.lower(): v for k, v in response.getheaders()}
        return response.status, found, json.loads(data) if data else None
    finally:
        connection.close()


def post_json(
    url: str, path: str, document: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    return post(url, path, json.dumps(document).encode(), headers)


def get_text(url: str, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{url}{path}", timeout=30) as answer:
        return str(answer.read().decode())


def wait_logged(folder: Path, request_ids: set[str], timeout: float = 60.0) -> None:
    """Until every id appears in the log files (the writer thread is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = set()
        for path in log_files(folder):
            for raw in path.read_bytes().splitlines():
                seen.add(json.loads(raw)["id"])
        if request_ids <= seen:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{len(request_ids - seen)} ids never reached the prediction log in {folder}")
