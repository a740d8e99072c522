"""Handing the listening socket from one service process to the next: swaps that refuse nothing.

A new version replaces the old one on the same port. The old process gives its listening socket
itself to the new process over a unix socket (``SCM_RIGHTS``, as nginx, HAProxy and Envoy do on a
hot restart). Both processes then hold ONE kernel socket with ONE accept queue, so a connection
that arrives at any moment is accepted by one of them, never refused and never reset:

1. the new process loads its versions (digest checked, pipeline compiled) while the old serves;
   a version that cannot load exits here and the old never notices;
2. it connects to the old one's handover path and asks ``TAKE``; the old answers ``LISTENER``
   with the socket attached;
3. the new one starts accepting on it and binds its own handover path (so it can be replaced in
   turn, and so whoever started it sees that it holds the port), then says ``ACCEPTING``;
4. only then does the old one stop accepting and drain: requests in flight finish, keep-alive
   connections get ``Connection: close`` on their next answer, idle ones are closed, and it exits.
   It stops taking connections from the queue at once, then waits a moment before draining:
   asyncio registers a connection it accepted only a few loop turns later, and one still
   unregistered when the drain finds nothing left would be dropped with its request (a reset).

If the new process dies before step 4 the old one never stopped accepting: nothing changed.

Why not ``SO_REUSEPORT``: each socket of a reuseport group has its own accept queue, and when a
listener closes, the connections already waiting in its queue are reset; avoiding that needs a
classic BPF program steering new connections away from the old socket and a careful drain of its
queue. Passing the socket needs neither, works on any Unix, and keeps the single-process fast
path untouched (the request path does not change at all).

The handover path is a unix socket file with mode 0600 under the deploy state folder, and the
old process hands over only to a peer of its own user (``SO_PEERCRED``). A unix socket path is
limited to 107 bytes, so paths are reached through ``/proc/self/fd/<directory fd>/<name>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from mlopsctl.errors import UnreachableError

log = logging.getLogger("mlopsctl.serve")

TAKE, LISTENER, ACCEPTING = b"TAKE\n", b"LISTENER\n", b"ACCEPTING\n"
ANSWER_SECONDS = 30.0
"""How long either side waits for the other's next message before giving up (the old keeps serving)."""
MAX_MESSAGE = 64
SETTLE_SECONDS = 0.05
"""After the handover, how long the old side waits for the connections it just accepted to reach its server."""


class HandoverFailed(UnreachableError):
    """The previous instance did not hand its listening socket over (exit 3, like any port problem)."""

    title = "Handover failed"


@contextlib.contextmanager
def short_path(path: Path) -> Iterator[str]:
    """``path`` as a string any unix socket call accepts, however deep its folder is."""
    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def bind_point(path: Path) -> socket.socket:
    """A listening unix socket at ``path`` (mode 0600); a stale file from a killed process is replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with short_path(path) as where:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(where)  # the path names this instance alone: a file there is its own leftover
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(where)
            os.chmod(where, 0o600)
            sock.listen(4)
        except OSError:
            sock.close()
            raise
    sock.setblocking(False)
    return sock


def same_user(conn: socket.socket) -> bool:
    """Whether the peer of a unix connection runs as this process's user."""
    credentials = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    uid: int = struct.unpack("3i", credentials)[1]
    return uid == os.getuid()


class HandoverPoint:
    """The old side: waits at ``path`` for a successor and gives it ``listener``, then calls ``handed_over``."""

    def __init__(self, path: Path, listener: Callable[[], int], handed_over: Callable[[], None]) -> None:
        self.path = path
        self.listener = listener
        self.handed_over = handed_over
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    def open(self) -> HandoverPoint:
        self._sock = bind_point(self.path)
        self._task = asyncio.ensure_future(self._serve(self._sock))
        return self

    async def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _address = await loop.sock_accept(sock)
            with conn:
                if await self._hand_over(loop, conn):
                    log.info("handed the port over to the next instance; draining")
                    self.close(cancel=False)
                    await self._stop_accepting(loop)
                    self.handed_over()
                    return

    async def _hand_over(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bool:
        """One successor's attempt; False (and the old keeps serving) on anything but ``ACCEPTING``."""
        if not same_user(conn):
            log.warning("refused a handover request from another user")
            return False
        try:
            if await asyncio.wait_for(_read_message(loop, conn), ANSWER_SECONDS) != TAKE:
                return False
            socket.send_fds(conn, [LISTENER], [self.listener()])
            return await asyncio.wait_for(_read_message(loop, conn), ANSWER_SECONDS) == ACCEPTING
        except (OSError, TimeoutError):
            return False

    async def _stop_accepting(self, loop: asyncio.AbstractEventLoop) -> None:
        """The successor accepts from the shared queue now: take no more connections from it, and let the
        ones just taken reach the server (registered a few loop turns after their accept) before it drains."""
        with contextlib.suppress(RuntimeError, ValueError, OSError, NotImplementedError):
            loop.remove_reader(self.listener())  # the server's own close later removes nothing more
        await asyncio.sleep(SETTLE_SECONDS)

    def close(self, cancel: bool = True) -> None:
        """Stop waiting for successors and remove the path (a stopping or replaced instance has none)."""
        if cancel and self._task is not None:
            self._task.cancel()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(OSError), short_path(self.path) as where:
                os.unlink(where)


async def _read_message(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < MAX_MESSAGE:
        chunk = await loop.sock_recv(conn, MAX_MESSAGE - len(data))
        if not chunk:
            break
        data += chunk
    return data


def receive_listener(path: Path, port: int) -> tuple[socket.socket, socket.socket] | None:
    """The new side: (the listening socket of ``port``, the connection to confirm on), or None.

    None means nobody listens at ``path`` (the previous instance is gone): the caller binds the
    port itself. Blocking, bounded by :data:`ANSWER_SECONDS`; run it off the event loop.
    """
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(ANSWER_SECONDS)
    try:
        with short_path(path) as where:
            conn.connect(where)
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    try:
        return _listener_from(conn, path, port), conn
    except (OSError, HandoverFailed) as exc:
        conn.close()
        if isinstance(exc, HandoverFailed):
            raise
        raise HandoverFailed(f"the instance at {path} did not hand over port {port}: {exc}") from None


def _listener_from(conn: socket.socket, path: Path, port: int) -> socket.socket:
    conn.sendall(TAKE)
    message, fds, _flags, _address = socket.recv_fds(conn, MAX_MESSAGE, 1)
    if message != LISTENER or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise HandoverFailed(f"the instance at {path} answered {message!r} instead of its listening socket")
    listener = socket.socket(fileno=fds[0])
    accepting = listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if not accepting or listener.type != socket.SOCK_STREAM or listener.getsockname()[1] != port:
        listener.close()
        raise HandoverFailed(f"the instance at {path} handed over a socket that does not listen on port {port}")
    return listener
