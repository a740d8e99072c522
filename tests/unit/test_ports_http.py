"""The HTTP port against a real loopback server: answers, redirects, failures, and the operation log."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlopsctl import oplog
from mlopsctl.errors import UsageError
from mlopsctl.ports import http
from tests.support.services import free_port


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        _Handler.seen.append(dict(self.headers))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/answer")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"path": self.path}).encode() if self.path == "/answer" else b"nothing here"
        self.send_response(200 if self.path == "/answer" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_request_is_answered_and_recorded(server: str, operations: list[oplog.Operation]) -> None:
    response = http.request("GET", f"{server}/answer", timeout=5)
    assert (response.status, response.json()) == (200, {"path": "/answer"})
    assert _Handler.seen[-1]["User-Agent"] == http.USER_AGENT
    [operation] = operations
    assert (operation.kind, operation.command, operation.ok) == ("http", f"GET {server}/answer", True)
    assert operation.detail.startswith("HTTP 200 in ")


def test_an_error_status_is_a_response_recorded_as_failed(server: str, operations: list[oplog.Operation]) -> None:
    response = http.request("GET", f"{server}/missing", timeout=5)
    assert (response.status, response.text) == (404, "nothing here")
    assert [(op.command, op.ok) for op in operations] == [(f"GET {server}/missing", False)]


def test_a_redirect_is_followed_without_credentials(server: str) -> None:
    assert http.request("GET", f"{server}/moved", timeout=5).status == 200


def test_a_redirect_is_never_followed_with_credentials(
    server: str, operations: list[oplog.Operation], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_ALLOW_INSECURE_LOOPBACK", "1")
    response = http.request("GET", f"{server}/moved", secret_headers={"Authorization": "Bearer s3cret"}, timeout=5)
    assert (response.status, response.header("location")) == (302, "/answer")
    assert [op.command for op in operations] == [f"GET {server}/moved"]
    assert "s3cret" not in repr(operations)


def test_credentials_go_only_over_https(server: str, operations: list[oplog.Operation]) -> None:
    with pytest.raises(UsageError):
        http.request("GET", f"{server}/answer", secret_headers={"PRIVATE-TOKEN": "t"}, secret_name="the token")
    assert operations == []


def test_no_answer_is_raised_and_recorded(operations: list[oplog.Operation]) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    with pytest.raises(http.NoAnswer) as caught:
        http.request("GET", url, timeout=5)
    assert caught.value.refused and not caught.value.timed_out
    assert [(op.kind, op.command, op.ok) for op in operations] == [("http", f"GET {url}", False)]


def test_loopback_get_is_recorded(server: str, operations: list[oplog.Operation]) -> None:
    port = int(server.rsplit(":", 1)[1])
    status, body = asyncio.run(http.loopback_get(port, "/answer", 5))
    assert (status, json.loads(body)) == (200, {"path": "/answer"})
    closed = free_port()
    with pytest.raises(OSError):
        asyncio.run(http.loopback_get(closed, "/health/ready", 5))
    assert [(op.command, op.ok) for op in operations] == [
        (f"GET http://127.0.0.1:{port}/answer", True),
        (f"GET http://127.0.0.1:{closed}/health/ready", False),
    ]
