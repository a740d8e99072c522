"""A lean HTTP/1.1 server on asyncio's Protocol API: keep-alive, pipelining, limits, graceful stop.

No web framework: a prediction of one row costs tens of microseconds, so routing through a
framework's middleware, request objects and validation would cost more than the model. This
server parses only what the service needs and is strict where strictness keeps it safe:

- the request head is bounded (``max_header_bytes``, ``max_headers``): 431 beyond;
- control characters are refused with 400 wherever RFC 9110/9112 forbid them: in the request line,
  in header names, and CR, LF, NUL or any other control but HTAB in header values (a bare CR or LF
  is how header injection and request smuggling through a lenient proxy start);
- a body is framed by ``Content-Length`` or chunked encoding (never both: 400, the classic request
  smuggling ambiguity); over ``max_body_bytes`` it is refused with 413 before it is read;
- ``Expect: 100-continue`` is answered, so curl does not wait a second before large bodies;
- a client that sends its request too slowly gets 408 (``request_timeout``), an idle keep-alive
  connection is closed after ``keepalive_timeout``, and the number of connections is capped;
- after an error the server stops reading the connection but lets the client finish sending
  (a "lingering close"), so the client reads the error instead of a connection reset;
- a handler that raises becomes a 500, never a dead server; output back-pressure pauses reading;
- a client that half-closes after sending (``shutdown(SHUT_WR)``) still gets every answer it asked
  for; the connection closes once they are written.

``shutdown()`` stops accepting, lets requests in flight finish (up to ``shutdown_grace`` seconds)
while every answer says ``Connection: close``, and closes keep-alive connections once they are
quiet; that is what SIGTERM does in the service, and what the old instance does after it handed
its listening socket to its successor (:mod:`mlopsctl.serve.handover`, :meth:`HttpServer.start_on`).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import json
import logging
import re
import socket
import termios
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

log = logging.getLogger("mlopsctl.serve")

# Matched with fullmatch: ``$`` would also match before a trailing newline ("GET\n", "5\n").
TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
DIGITS = re.compile(rb"[0-9]{1,19}")
HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
# RFC 9110 section 5.5: a field value is visible characters, SP, HTAB and obs-text; never CR, LF or NUL.
VALUE_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
LINGER_SECONDS = 2.0
SWEEP_SECONDS = 0.5
BACKLOG = 1024


@dataclass(frozen=True)
class Limits:
    """How much a client may send and for how long."""

    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 16_384
    max_headers: int = 100
    request_timeout: float = 30.0
    """Seconds from a request's first byte to its last."""
    keepalive_timeout: float = 75.0
    """Seconds an idle keep-alive connection is kept open."""
    max_connections: int = 1024
    shutdown_grace: float = 30.0
    """Seconds in-flight requests get to finish on shutdown."""
    drain_idle: float = 0.5
    """On shutdown, seconds a keep-alive connection must have been quiet before it is closed."""


@dataclass
class Request:
    method: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    body: bytes = b""
    keep_alive: bool = True


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False

    @classmethod
    def json(cls, status: int, document: Any, headers: list[tuple[str, str]] | None = None) -> Response:
        body = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        return cls(status, body, headers=headers or [])


def error_response(status: int, message: str) -> Response:
    return Response.json(status, {"error": message})


Result = Response | Awaitable[Response]


class Application:
    """What the server calls: the handler, and hooks for refused requests and for shutting down."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def drain(self) -> None:
        """Shutting down: stop reporting ready."""

    def close(self) -> None:
        """Shut down: release workers."""

    def handle(self, request: Request) -> Result:
        raise NotImplementedError

    def refused(self, status: int, path: str | None) -> None:
        """A request refused by the HTTP layer itself (bad framing, too large, too slow); path if known."""


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


STATUS_LINES = {s.value: _status_line(s.value) for s in HTTPStatus}


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.path: str | None = None


def _path_of(raw: bytes) -> str | None:
    """The path of a request line, if it has one, to label a refused request's metrics."""
    parts = raw.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) == 3 and parts[1].startswith(b"/"):
        return parts[1].split(b"?", 1)[0].decode("latin-1")
    return None


@dataclass
class Head:
    method: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    keep_alive: bool
    length: int | None
    chunked: bool


class ChunkedBody:
    """Incremental decoder of ``Transfer-Encoding: chunked``, bounded by the body limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.state = "size"
        self.remaining = 0
        self.trailer_bytes = 0

    def feed(self, buffer: bytearray) -> bool:
        """Consume what ``buffer`` holds; True once the last chunk and trailers are read."""
        while True:
            if self.state == "data":
                take = min(self.remaining, len(buffer))
                self.parts.append(bytes(buffer[:take]))
                del buffer[:take]
                self.remaining -= take
                if self.remaining:
                    return False
                self.state = "crlf"
            elif self.state == "crlf":
                if len(buffer) < 2:
                    return False
                if buffer[:2] != b"\r\n":
                    raise HttpError(400, "malformed chunked body: missing CRLF after a chunk")
                del buffer[:2]
                self.state = "size"
            else:
                line = self._line(buffer)
                if line is None:
                    return False
                if self.state == "size":
                    self._size(line)
                elif not line:
                    return True

    def _line(self, buffer: bytearray) -> bytes | None:
        end = buffer.find(b"\r\n")
        if end < 0:
            if len(buffer) > 4096:
                raise HttpError(400, "malformed chunked body: line too long")
            return None
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        if self.state == "trailer":
            self.trailer_bytes += len(line)
            if self.trailer_bytes > 16_384:
                raise HttpError(431, "chunked trailers are too large")
        return line

    def _size(self, line: bytes) -> None:
        text = line.split(b";", 1)[0].strip(b" \t")
        if not HEX.fullmatch(text):
            raise HttpError(400, "malformed chunked body: bad chunk size")
        size = int(text, 16)
        if size == 0:
            self.state = "trailer"
            return
        self.size += size
        if self.size > self.limit:
            raise HttpError(413, f"request body is larger than this service's limit of {self.limit} bytes")
        self.remaining = size
        self.state = "data"

    def body(self) -> bytes:
        return b"".join(self.parts)


def parse_head(raw: bytes, limits: Limits) -> Head:
    lines = raw.split(b"\r\n")
    method, path, query, version = _request_line(lines[0])
    headers = _headers(lines[1:], limits)
    connection = {t.strip() for t in headers.get("connection", "").lower().split(",")}
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    length, chunked = _framing(headers, version, limits)
    return Head(method, path, query, version, headers, keep_alive, length, chunked)


def _request_line(line: bytes) -> tuple[str, str, str, str]:
    parts = line.split(b" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        if version.startswith(b"HTTP/"):
            raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
        raise HttpError(400, "malformed request line")
    if not target.startswith(b"/") or any(c < 0x21 or c == 0x7F for c in target):
        raise HttpError(400, "the request target must be a path starting with /")
    path, _, query = target.decode("latin-1").partition("?")
    return method.decode("ascii"), path, query, version.decode("ascii")


def _headers(lines: list[bytes], limits: Limits) -> dict[str, str]:
    if len(lines) > limits.max_headers:
        raise HttpError(431, f"more than {limits.max_headers} request headers")
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not TOKEN.fullmatch(name):
            raise HttpError(400, "malformed header line")
        key = name.decode("ascii").lower()
        if VALUE_CONTROL.search(value):
            raise HttpError(400, f"header {key!r} has a control character in its value")
        text = value.strip(b" \t").decode("latin-1")
        if key == "content-length" and key in headers and headers[key] != text:
            raise HttpError(400, "conflicting Content-Length headers")
        headers[key] = f"{headers[key]}, {text}" if key in headers and key != "content-length" else text
    return headers


def _framing(headers: dict[str, str], version: str, limits: Limits) -> tuple[int | None, bool]:
    encoding = headers.get("transfer-encoding")
    length_text = headers.get("content-length")
    if encoding is not None:
        if length_text is not None:
            raise HttpError(400, "both Transfer-Encoding and Content-Length are set")
        if encoding.strip().lower() != "chunked" or version != "HTTP/1.1":
            raise HttpError(400, f"unsupported Transfer-Encoding {encoding!r}; send chunked or a Content-Length")
        return None, True
    if length_text is None:
        return 0, False
    if not DIGITS.fullmatch(length_text.encode("latin-1")):
        raise HttpError(400, "malformed Content-Length")
    length = int(length_text)
    if length > limits.max_body_bytes:
        raise HttpError(413, f"request body is larger than this service's limit of {limits.max_body_bytes} bytes")
    return length, False


class Connection(asyncio.Protocol):
    """One client connection: reads requests one after another and answers them in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.head: Head | None = None
        self.chunks: ChunkedBody | None = None
        self.scan_from = 0
        self.busy = False
        self.closing = False
        self.discarding = False
        self.write_paused = False
        self.read_paused = False
        self.peer_done = False
        self.started = 0.0
        self.last_active = time.monotonic()

    # --- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # A connection accepted while draining is still served (its answer says Connection: close):
        # after a handover it came out of the queue this process shared with its successor.
        if len(self.server.connections) >= self.server.limits.max_connections:
            self._fail(HttpError(503, "the service is at its connection limit or shutting down"))
            return
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.closing = True
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.discarding or self.closing:
            return
        if not self.buffer and self.head is None:
            self.started = time.monotonic()
        self.buffer += data
        self._run()

    def eof_received(self) -> bool | None:
        """The client will send no more; it may still read (half-close), so answer what it asked first."""
        self.peer_done = True
        if self._answers_pending():
            return True  # keep our side open; _run closes it after the last answer
        return None  # nothing more to answer (a partial request can never complete): close our side too

    def _answers_pending(self) -> bool:
        """A request is being handled, or complete ones wait in the buffer for the client to read."""
        return self.busy or (self.write_paused and bool(self.buffer))

    def pause_writing(self) -> None:
        self.write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._resume_reading()
        self._run()

    # --- request loop -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not (self.busy or self.closing or self.write_paused or self.discarding):
                if self.head is None and not self._read_head():
                    break
                body = self._read_body()
                if body is None:
                    break
                self._dispatch(body)
        except HttpError as exc:
            self._fail(exc)
            return
        if self.peer_done and not self._answers_pending():
            self.close()  # the half-closed client has all its answers; close() flushes them first
            return
        if self.busy and len(self.buffer) > self.server.limits.max_body_bytes + self.server.limits.max_header_bytes:
            self._pause_reading()

    def _read_head(self) -> bool:
        limits = self.server.limits
        while self.buffer[:2] == b"\r\n":  # empty lines between requests are allowed
            del self.buffer[:2]
        end = self.buffer.find(b"\r\n\r\n", max(0, self.scan_from - 3))
        if end < 0:
            if len(self.buffer) > limits.max_header_bytes:
                raise HttpError(431, f"request head is larger than {limits.max_header_bytes} bytes")
            self.scan_from = len(self.buffer)
            return False
        if end > limits.max_header_bytes:
            raise HttpError(431, f"request head is larger than {limits.max_header_bytes} bytes")
        raw = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        self.scan_from = 0
        try:
            self.head = parse_head(raw, limits)
        except HttpError as exc:
            exc.path = _path_of(raw)
            raise
        self.chunks = ChunkedBody(limits.max_body_bytes) if self.head.chunked else None
        self._expect_continue(self.head)
        return True

    def _expect_continue(self, head: Head) -> None:
        expect = head.headers.get("expect")
        if expect is None:
            return
        if expect.lower() != "100-continue":
            raise HttpError(417, f"unsupported expectation {expect!r}")
        needs_body = head.chunked or (head.length or 0) > len(self.buffer)
        if head.version == "HTTP/1.1" and needs_body and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _read_body(self) -> bytes | None:
        head = self.head
        assert head is not None
        if self.chunks is not None:
            return self.chunks.body() if self.chunks.feed(self.buffer) else None
        length = head.length or 0
        if len(self.buffer) < length:
            return None
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return body

    def _dispatch(self, body: bytes) -> None:
        head = self.head
        assert head is not None
        self.head, self.chunks = None, None
        self.started = time.monotonic() if self.buffer else 0.0
        request = Request(head.method, head.path, head.query, head.version, head.headers, body, head.keep_alive)
        try:
            result = self.server.app.handle(request)
        except Exception:
            log.exception("request handler failed")
            result = error_response(500, "internal error")
        if isinstance(result, Response):
            self._respond(request, result)
            return
        self.busy = True
        task = asyncio.ensure_future(result)
        self.server.tasks.add(task)
        task.add_done_callback(lambda done: self._finish(request, done))

    def _finish(self, request: Request, task: asyncio.Future[Response]) -> None:
        self.server.tasks.discard(task)
        self.busy = False
        if task.cancelled():
            response = error_response(503, "the service is shutting down")
        elif task.exception() is not None:
            log.error("request handler failed", exc_info=task.exception())
            response = error_response(500, "internal error")
        else:
            response = task.result()
        self._respond(request, response)
        self._resume_reading()
        self._run()

    # --- writing ----------------------------------------------------------------------------

    def _respond(self, request: Request, response: Response) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        keep_alive = request.keep_alive and not response.close and not self.server.draining
        transport.write(self._encode(request, response, keep_alive))
        self.last_active = time.monotonic()
        if not keep_alive:
            self.closing = True
            transport.close()

    @staticmethod
    def _encode(request: Request, response: Response, keep_alive: bool) -> bytes:
        status = STATUS_LINES.get(response.status) or _status_line(response.status)
        lines = [f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in response.headers)
        if not keep_alive:
            lines.append("Connection: close\r\n")
        elif request.version == "HTTP/1.0":
            lines.append("Connection: keep-alive\r\n")
        head = status + "".join(lines).encode("latin-1") + b"\r\n"
        return head if request.method == "HEAD" else head + response.body

    def _fail(self, error: HttpError) -> None:
        """Answer a request refused by the HTTP layer, then close once the client is done sending."""
        path = error.path or (self.head.path if self.head is not None else None)
        self.server.app.refused(error.status, path)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        request = Request("GET", "", "", "HTTP/1.1", {}, keep_alive=False)
        transport.write(self._encode(request, error_response(error.status, error.message), False))
        self.discarding = True
        self.buffer.clear()
        self.head = None
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.close)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if (
            self.read_paused
            and not self.write_paused
            and self.transport is not None
            and not self.transport.is_closing()
        ):
            self.read_paused = False
            self.transport.resume_reading()

    # --- timers -----------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        return not self.busy and self.head is None and not self.buffer

    def quiet_for(self, now: float) -> float:
        """Seconds this idle connection has had nothing to do (0 while busy, or when bytes wait unread)."""
        if not self.idle or self.transport is None or _unread_bytes(self.transport):
            return 0.0
        return now - self.last_active

    def sweep(self, now: float) -> None:
        if self.busy or self.discarding or self.closing:
            return
        limits = self.server.limits
        if self.started and now - self.started > limits.request_timeout:
            self._fail(HttpError(408, f"the request did not arrive within {limits.request_timeout:g} seconds"))
        elif self.idle and now - self.last_active > limits.keepalive_timeout:
            self.close()


class HttpServer:
    """Listens on one address and serves ``app`` until :meth:`shutdown`."""

    def __init__(self, app: Application, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Future[Response]] = set()
        self.draining = False
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self), host, port, backlog=BACKLOG, reuse_address=True
        )
        self._sweeper = asyncio.ensure_future(self._sweep())
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def start_on(self, listener: socket.socket) -> int:
        """Start accepting on a socket that already listens (handed over by the previous instance)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Connection(self), sock=listener, backlog=BACKLOG)
        self._sweeper = asyncio.ensure_future(self._sweep())
        return int(listener.getsockname()[1])

    def listening_fd(self) -> int:
        """The file descriptor of the listening socket (what a handover gives away)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server does not listen")
        return int(self._server.sockets[0].fileno())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.sweep(now)

    async def shutdown(self) -> None:
        """Stop accepting, let requests in flight finish, close keep-alive connections, then the rest.

        Every answer from now on says ``Connection: close``. An idle keep-alive connection is closed
        once it has been quiet for ``drain_idle`` seconds with nothing unread: closing it sooner
        would race a client that is just sending its next request on it (which then sees a reset),
        while a client in a request loop gets its next answer with ``Connection: close`` instead.
        """
        self.draining = True
        if self._server is not None:
            self._server.close()
        # a connection accepted just before the close reaches self.connections a few loop turns later:
        # without this pause the drain could find none left and drop it (a reset for its client)
        await asyncio.sleep(0.05)
        deadline = time.monotonic() + self.limits.shutdown_grace
        while time.monotonic() < deadline:
            now = time.monotonic()
            for connection in list(self.connections):
                if connection.quiet_for(now) >= self.limits.drain_idle:
                    connection.close()
            if not self.connections and not self.tasks:
                break
            await asyncio.sleep(0.02)
        for connection in list(self.connections):
            connection.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper


def _unread_bytes(transport: asyncio.BaseTransport) -> int:
    """Bytes the kernel holds for this connection that the server has not read yet."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    count = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    except OSError:
        return 0
    return int(count[0])


Handler = Callable[[Request], Result]
