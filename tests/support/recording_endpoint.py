"""An HTTP endpoint on 127.0.0.1 that refuses every request (403, S3's AccessDenied) and records the
headers it was sent: to see whether a client signed its requests, without a real cloud account."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
)


class _Refuser(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def _refuse(self) -> None:
        self.seen.append({name.lower(): value for name, value in self.headers.items()})
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(ACCESS_DENIED) if self.command != "HEAD" else 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(ACCESS_DENIED)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _refuse

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def refusing_endpoint() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """Its URL, and the headers of every request it refused (in order)."""
    seen: list[dict[str, str]] = []
    handler = type("Refuser", (_Refuser,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
