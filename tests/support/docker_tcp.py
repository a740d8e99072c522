"""The local Docker engine as if it were remote: ``tcp://127.0.0.1:<port>`` forwarded to its unix socket.

mlopsctl takes an engine reached over TCP for one on another machine (its bind mounts would not
reach this machine's folders), so a test can see the docker target's fallbacks without a second
machine. Bounded: one thread per direction per connection, everything closed on exit.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator

ENGINE_SOCKET = "/var/run/docker.sock"
CHUNK = 64 * 1024


class _Forward(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with upstream:
            upstream.connect(ENGINE_SOCKET)
            back = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
            back.start()
            _pump(self.request, upstream)
            back.join(30)


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(CHUNK):
            target.sendall(chunk)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def engine_over_tcp() -> Iterator[str]:
    """A ``DOCKER_HOST`` value (``tcp://127.0.0.1:<free port>``) reaching the local engine, while open."""
    server = _Server(("127.0.0.1", 0), _Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)
