"""A loopback stand-in for Prometheus' HTTP API that records the requests it receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest


@dataclass
class FakePrometheus:
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    redirect_to: str | None = None
    """Answer every request with ``status`` and a Location of this base URL plus the same path."""


@contextmanager
def serve_prometheus(fake: FakePrometheus) -> Iterator[FakePrometheus]:
    """``fake`` on 127.0.0.1 (a free port) for the block: an empty answer to every query."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            fake.requests.append(
                {"path": parsed.path, "query": parse_qs(parsed.query), "authorization": self.headers["Authorization"]}
            )
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()
            self.send_response(fake.status)
            if fake.redirect_to is not None:
                self.send_header("Location", fake.redirect_to + self.path)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def use_prometheus(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """The user's own Prometheus, on this machine over plain http."""
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
    monkeypatch.setenv("MLOPS_ALLOW_INSECURE_LOOPBACK", "1")
