"""The HTTP layer on real sockets: keep-alive, pipelining, framing, limits, slow clients, shutdown."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mlopsctl.serve.httpserver import Application, Limits, Request, Response, Result
from mlopsctl.serve.runner import ServerThread

ROW = b'{"record": {"x": 1}}'


class EchoApp(Application):
    """Echoes method, path and body; /slow answers after a delay; /boom raises."""

    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__(limits)
        self.refusals: list[tuple[int, str | None]] = []
        self.started = threading.Event()

    def handle(self, request: Request) -> Result:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        if request.path == "/slow":
            return self._slow(request)
        body = {"method": request.method, "path": request.path, "query": request.query, "body": request.body.decode()}
        return Response.json(200, body)

    async def _slow(self, request: Request) -> Response:
        self.started.set()
        await asyncio.sleep(0.5)
        return Response.json(200, {"slow": True})

    def refused(self, status: int, path: str | None) -> None:
        self.refusals.append((status, path))


class Raw:
    """A client on a bare socket, to send exactly the bytes a test needs."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.pending = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.pending:
            self._more()
        head, _, self.pending = self.pending.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.pending) < length:
            self._more()
        body, self.pending = self.pending[:length], self.pending[length:]
        return status, headers, body

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.pending += chunk

    def close(self) -> None:
        self.sock.close()


def post(path: str, body: bytes, extra: str = "", version: str = "HTTP/1.1") -> bytes:
    return f"POST {path} {version}\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


@pytest.fixture
def app() -> EchoApp:
    return EchoApp()


def start(app: Application, **limits: Any) -> ServerThread:
    app.limits = Limits(**limits)
    return ServerThread(app).start()


@pytest.fixture
def server(app: EchoApp) -> Iterator[ServerThread]:
    running = start(app, max_body_bytes=2048, max_header_bytes=1024, max_headers=20)
    yield running
    running.stop()


@pytest.fixture
def client(server: ServerThread) -> Iterator[Raw]:
    raw = Raw(server.port)
    yield raw
    raw.close()


def test_keep_alive_serves_several_requests_on_one_connection(client: Raw) -> None:
    for i in range(3):
        client.send(post(f"/r{i}", ROW))
        status, headers, body = client.response()
        assert (status, json.loads(body)["path"]) == (200, f"/r{i}")
        assert "connection" not in headers


def test_pipelined_requests_are_answered_in_order(client: Raw) -> None:
    client.send(post("/a", b"1") + post("/b?q=2", b"22") + b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
    answers = [json.loads(client.response()[2]) for _ in range(3)]
    assert [(a["path"], a["query"], a["body"]) for a in answers] == [
        ("/a", "", "1"),
        ("/b", "q=2", "22"),
        ("/c", "", ""),
    ]


def test_http_1_0_closes_unless_asked_to_keep_alive(server: ServerThread) -> None:
    plain = Raw(server.port)
    plain.send(post("/x", b"{}", version="HTTP/1.0"))
    assert plain.response()[1]["connection"] == "close"
    assert plain.closed()
    kept = Raw(server.port)
    kept.send(post("/x", b"{}", "Connection: keep-alive\r\n", version="HTTP/1.0") * 2)
    assert kept.response()[1]["connection"] == "keep-alive"
    assert kept.response()[0] == 200


def test_connection_close_is_honoured(client: Raw) -> None:
    client.send(post("/x", b"{}", "Connection: close\r\n"))
    assert client.response()[1]["connection"] == "close"
    assert client.closed()


def test_expect_100_continue(client: Raw) -> None:
    client.send(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    assert client.response()[0] == 100
    client.send(b"abcd")
    assert json.loads(client.response()[2])["body"] == "abcd"


def test_expect_100_continue_with_a_body_over_the_limit_gets_413_at_once(client: Raw, app: EchoApp) -> None:
    client.send(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n")
    status, _, body = client.response()
    assert (status, json.loads(body)) == (
        413,
        {"error": "request body is larger than this service's limit of 2048 bytes"},
    )
    assert app.refusals == [(413, "/predict")]


def test_chunked_body(client: Raw) -> None:
    client.send(
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    assert json.loads(client.response()[2])["body"] == "abcdefg"
    client.send(post("/after", b""))
    assert json.loads(client.response()[2])["path"] == "/after"


def test_body_over_the_limit_is_refused_and_the_client_reads_the_answer(client: Raw) -> None:
    client.send(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    client.send(b"x" * 100_000)  # the server keeps reading (and dropping) so this does not fail
    status, headers, body = client.response()
    assert (status, headers["connection"]) == (413, "close")
    assert json.loads(body) == {"error": "request body is larger than this service's limit of 2048 bytes"}


def test_chunked_body_over_the_limit(client: Raw) -> None:
    client.send(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n900\r\n" + b"y" * 0x900 + b"\r\n")
    assert client.response()[0] == 413


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"GARBAGE\r\n\r\n", 400, "malformed request line"),
        (b"GET /x HTTP/2.0\r\n\r\n", 505, "only HTTP/1.0 and HTTP/1.1 are supported"),
        (b"GET x HTTP/1.1\r\n\r\n", 400, "the request target must be a path starting with /"),
        (b"GET /x HTTP/1.1\r\nBad Header: 1\r\n\r\n", 400, "malformed header line"),
        (b"GET /x HTTP/1.1\r\n folded\r\n\r\n", 400, "malformed header line"),
        (b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "malformed Content-Length"),
        (
            b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
            "conflicting Content-Length headers",
        ),
        (
            b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "both Transfer-Encoding and Content-Length are set",
        ),
        (
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            400,
            "unsupported Transfer-Encoding 'gzip'; send chunked or a Content-Length",
        ),
        (
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "malformed chunked body: bad chunk size",
        ),
        (b"POST /x HTTP/1.1\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417, "unsupported expectation 'magic'"),
        (b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n", 431, "request head is larger than 1024 bytes"),
        (b"GET /x HTTP/1.1\r\n" + b"X-A: 1\r\n" * 25 + b"\r\n", 431, "more than 20 request headers"),
        (b"GET /x HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400, "header 'x-a' has a control character in its value"),
        (b"GET /x HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400, "header 'x-a' has a control character in its value"),
        (b"GET /x HTTP/1.1\r\nX-A: a\nX-B: b\r\n\r\n", 400, "header 'x-a' has a control character in its value"),
        (b"GET /x HTTP/1.1\r\nX-A: \x1b[2J\r\n\r\n", 400, "header 'x-a' has a control character in its value"),
        (b"GET /x HTTP/1.1\r\nX-A\n: 1\r\n\r\n", 400, "malformed header line"),
        (b"GET\n /x HTTP/1.1\r\n\r\n", 400, "malformed request line"),
        (
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\n\r\nabcd\r\n0\r\n\r\n",
            400,
            "malformed chunked body: bad chunk size",
        ),
    ],
    ids=[
        "request-line",
        "http2",
        "target",
        "header-space",
        "obs-fold",
        "negative-length",
        "two-lengths",
        "smuggling",
        "gzip",
        "chunk-size",
        "expectation",
        "big-head",
        "many-headers",
        "bare-cr-in-value",
        "nul-in-value",
        "bare-lf-in-value",
        "escape-in-value",
        "lf-in-name",
        "lf-in-method",
        "lf-in-chunk-size",
    ],
)
def test_malformed_requests_get_4xx_and_the_connection_closes(client: Raw, raw: bytes, status: int, error: str) -> None:
    client.send(raw)
    got, headers, body = client.response()
    assert (got, headers["connection"], json.loads(body)) == (status, "close", {"error": error})
    assert client.closed()


def test_tab_and_obs_text_in_header_values_are_allowed(client: Raw) -> None:
    client.send(b"GET /x HTTP/1.1\r\nX-A: a\tb\xe9\r\n\r\n")
    assert client.response()[0] == 200


def test_a_half_closed_client_gets_its_answer_then_the_connection_closes(client: Raw) -> None:
    client.send(post("/x", b"1") + b"GET /slow HTTP/1.1\r\n\r\n" + post("/y", b"2"))
    client.sock.shutdown(socket.SHUT_WR)
    answers = [json.loads(client.response()[2]) for _ in range(3)]
    assert answers == [
        {"method": "POST", "path": "/x", "query": "", "body": "1"},
        {"slow": True},
        {"method": "POST", "path": "/y", "query": "", "body": "2"},
    ]
    assert client.closed()


def test_head_without_end_larger_than_the_limit(client: Raw) -> None:
    client.send(b"GET /" + b"a" * 3000)
    assert client.response()[0] == 431


def test_server_keeps_serving_after_bad_requests_and_handler_bugs(server: ServerThread) -> None:
    for raw in (b"NONSENSE\r\n\r\n", b"GET /boom HTTP/1.1\r\n\r\n"):
        bad = Raw(server.port)
        bad.send(raw)
        assert bad.response()[0] in (400, 500)
        bad.close()
    good = Raw(server.port)
    good.send(post("/ok", b""))
    assert good.response()[0] == 200


def test_handler_bug_is_a_500_with_a_json_body(client: Raw) -> None:
    client.send(b"GET /boom HTTP/1.1\r\n\r\n")
    status, _, body = client.response()
    assert (status, json.loads(body)) == (500, {"error": "internal error"})
    client.send(post("/still", b""))
    assert client.response()[0] == 200


def test_empty_lines_between_requests_are_ignored(client: Raw) -> None:
    client.send(b"\r\n\r\n" + post("/x", b""))
    assert client.response()[0] == 200


def test_slow_client_gets_408(app: EchoApp) -> None:
    running = start(app, request_timeout=0.3)
    try:
        slow = Raw(running.port)
        slow.send(b"POST /predict HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        status, _, body = slow.response()
        assert (status, json.loads(body)) == (408, {"error": "the request did not arrive within 0.3 seconds"})
        assert app.refusals == [(408, "/predict")]
    finally:
        running.stop()


def test_idle_keep_alive_connection_is_closed(app: EchoApp) -> None:
    running = start(app, keepalive_timeout=0.3)
    try:
        idle = Raw(running.port)
        idle.send(post("/x", b""))
        assert idle.response()[0] == 200
        assert idle.closed()  # blocks until the server closes it (socket timeout 5 s)
    finally:
        running.stop()


def test_connection_limit(app: EchoApp) -> None:
    running = start(app, max_connections=2)
    try:
        kept = [Raw(running.port), Raw(running.port)]
        for raw in kept:
            raw.send(post("/x", b""))
            assert raw.response()[0] == 200
        extra = Raw(running.port)
        status, _, body = extra.response()
        assert (status, json.loads(body)) == (503, {"error": "the service is at its connection limit or shutting down"})
    finally:
        running.stop()


def test_shutdown_lets_requests_in_flight_finish(app: EchoApp) -> None:
    running = start(app)
    busy = Raw(running.port)
    idle = Raw(running.port)
    busy.send(b"GET /slow HTTP/1.1\r\n\r\n")
    assert app.started.wait(5)
    stopper = threading.Thread(target=running.stop)
    stopper.start()
    status, headers, body = busy.response()
    assert (status, json.loads(body), headers["connection"]) == (200, {"slow": True}, "close")
    assert idle.closed()
    stopper.join(10)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1)


def test_write_back_pressure_pauses_reading_until_the_client_reads(client: Raw) -> None:
    big = post("/x", b"z" * 2000)
    client.send(big * 300)  # about 600 kB of answers queued before the client reads any
    time.sleep(0.2)
    bodies = [client.response() for _ in range(300)]
    assert {status for status, _, _ in bodies} == {200}
