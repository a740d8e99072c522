"""HTTP, the one way mlopsctl talks to a web API or a service's endpoint.

Two kinds of request, each recorded in the operation log (kind ``http``) with its method, URL and
outcome, never with a header value:

* :func:`request` (blocking, stdlib ``urllib``): JSON or text to any URL, with a timeout and the
  ``mlopsctl/<version>`` User-Agent. Pull requests and the direct scrape of ``/metrics`` use it.
  Credentials are passed apart from the other headers (``secret_headers``): a request that carries
  them goes only over https (:func:`~mlopsctl.spec.userconfig.check_credential_url`) and never follows
  a redirect (urllib would repeat the request, ``Authorization`` included, wherever a 30x points),
  so the 30x comes back as the :class:`Response`. Any status comes back as a :class:`Response`; a
  server that does not answer raises :class:`NoAnswer`.
* :func:`loopback_get` (asyncio): a plain ``GET`` on a connection to 127.0.0.1, never through a
  proxy from the environment, for readiness probes that run many at once on one event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlopsctl import __version__, oplog
from mlopsctl.spec.userconfig import check_credential_url

USER_AGENT = f"mlopsctl/{__version__}"
DEFAULT_TIMEOUT = 20.0
KIND = "http"


@dataclass(frozen=True)
class Response:
    """A server's answer, whatever its status."""

    status: int
    reason: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    """Header names in lower case."""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.text)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class NoAnswer(Exception):
    """The server did not answer: refused, unreachable, timed out or cut off. ``reason`` says which."""

    def __init__(self, reason: str, *, refused: bool = False, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused
        self.timed_out = timed_out


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a 30x: it surfaces as an HTTPError and is returned as the response."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        return None


_FOLLOWING = urllib.request.build_opener()
_NOT_FOLLOWING = urllib.request.build_opener(_RefuseRedirects)


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    secret_headers: Mapping[str, str] | None = None,
    secret_name: str = "the credentials",
    json_body: Any = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Response:
    """One request; ``secret_headers`` (tokens) only over https and never along a redirect."""
    if secret_headers:
        check_credential_url(url, what=secret_name)
    prepared = _prepare(method, url, {**(headers or {}), **(secret_headers or {})}, json_body)
    opener = _NOT_FOLLOWING if secret_headers else _FOLLOWING
    started = time.perf_counter()
    try:
        response = _send(opener, prepared, timeout)
    except NoAnswer as failure:
        oplog.record(KIND, f"{method} {url}", False, failure.reason)
        raise
    oplog.record(KIND, f"{method} {url}", response.status < 400, _outcome(response.status, started))
    return response


def _prepare(method: str, url: str, headers: Mapping[str, str], json_body: Any) -> urllib.request.Request:
    data = None if json_body is None else json.dumps(json_body).encode("utf-8")
    sent = {**headers, "User-Agent": USER_AGENT}
    if data is not None:
        sent["Content-Type"] = "application/json"
    return urllib.request.Request(url, data=data, method=method, headers=sent)


def _send(opener: urllib.request.OpenerDirector, prepared: urllib.request.Request, timeout: float) -> Response:
    try:
        with opener.open(prepared, timeout=timeout) as answer:
            return Response(answer.status, str(answer.reason), answer.read(), _lowered(answer.headers))
    except urllib.error.HTTPError as exc:
        return Response(exc.code, str(exc.reason), _error_body(exc), _lowered(exc.headers))
    except (urllib.error.URLError, OSError) as exc:
        raise _no_answer(exc) from exc


def _error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except OSError:
        return b""


def _lowered(headers: Any) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in (headers or {}).items()}


def _no_answer(exc: BaseException) -> NoAnswer:
    reason = getattr(exc, "reason", exc)
    timed_out = isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError)
    refused = isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower()
    return NoAnswer(str(reason), refused=refused, timed_out=timed_out)


def _outcome(status: int, started: float) -> str:
    return f"HTTP {status} in {(time.perf_counter() - started) * 1000:.0f} ms"


# --------------------------------------------------------------------------- loopback probes


async def loopback_get(port: int, path: str, timeout: float) -> tuple[int, bytes]:
    """``GET path`` on 127.0.0.1:``port`` within ``timeout``: (status, body), recorded.

    Raises what the connection raises: OSError, TimeoutError, IncompleteReadError, ValueError.
    """
    command = f"GET http://127.0.0.1:{port}{path}"
    started = time.perf_counter()
    try:
        status, body = await asyncio.wait_for(_loopback_get(port, path), timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        oplog.record(KIND, command, False, str(exc) or type(exc).__name__)
        raise
    oplog.record(KIND, command, status < 400, _outcome(status, started))
    return status, body


async def _loopback_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {USER_AGENT}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        status, length = _read_head(await reader.readuntil(b"\r\n\r\n"))
        body = await (reader.readexactly(length) if length is not None else reader.read())
        return status, body
    finally:
        writer.close()


def _read_head(head: bytes) -> tuple[int, int | None]:
    """The status and Content-Length (None when absent) of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:] if ":" in line)
    }
    length = headers.get("content-length")
    return status, int(length) if length is not None else None
