"""A TCP proxy on 127.0.0.1 in front of a store, to make faults happen at a known point (issue 14).

- ``hold()``: new connections wait (``arrived`` is set) until ``release()``; stop the store in
  between and the client's first call meets a store that went away while it was working;
- ``throttle(bytes_per_second)``: what the client sends trickles through, and ``sent_past(n)`` is
  set once ``n`` bytes went upstream: an upload is under way, a test can kill the uploader then.

Bounded: one thread per direction per connection, every socket closed by ``stop()``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.services import free_port

CHUNK = 16 * 1024
HOLD_SECONDS = 120.0


class LoopbackProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream``."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.arrived = threading.Event()
        self._open = threading.Event()
        self._open.set()
        self._rate: float | None = None
        self._sent = 0
        self._marks: list[tuple[int, threading.Event]] = []
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def throttle(self, bytes_per_second: float | None) -> None:
        self._rate = bytes_per_second

    def sent_past(self, count: int) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._marks.append((count, event))
            if self._sent >= count:
                event.set()
        return event

    def stop(self) -> None:
        self._stopped = True
        self._open.set()
        with self._lock:
            sockets, self._sockets = [self._listener, *self._sockets], []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._keep(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _serve(self, client: socket.socket) -> None:
        if not self._open.is_set():
            self.arrived.set()
            self._open.wait(HOLD_SECONDS)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        except OSError:
            client.close()  # the store is gone: the client sees its connection dropped
            return
        upstream.settimeout(None)
        self._keep(upstream)
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, target: socket.socket, outgoing: bool) -> None:
        try:
            while data := source.recv(CHUNK if not (outgoing and self._rate) else 4096):
                if outgoing:
                    self._count(len(data))
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _count(self, size: int) -> None:
        rate = self._rate
        if rate:
            time.sleep(size / rate)  # a slow link, so an upload is still under way when it is killed
        with self._lock:
            self._sent += size
            for count, event in self._marks:
                if self._sent >= count:
                    event.set()


@contextmanager
def loopback_proxy(upstream: int) -> Iterator[LoopbackProxy]:
    proxy = LoopbackProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.stop()
