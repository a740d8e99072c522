"""A steady, bounded prediction load on one port while something else happens (no tests here).

Two clients in threads send ``POST /predict`` one after another until stopped: one keeps its
connection alive (``http.client``, which reconnects after an answer that says ``Connection:
close``), the other opens a new connection per request. Every outcome is kept: the HTTP status and
the version that answered, or the error a request met (a refused connection, a reset, a timeout).
Each client stops after :data:`MAX_REQUESTS`, so a test that forgets to stop it stays bounded.
"""

from __future__ import annotations

import collections
import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.apply_repo import EXAMPLE

MAX_REQUESTS = 200_000
BODY = json.dumps({"record": EXAMPLE}).encode()
HEADERS = {"Content-Type": "application/json"}


@dataclass
class Outcomes:
    """What one client saw, in order."""

    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    versions: list[int] = field(default_factory=list)


class SteadyLoad:
    """Two clients (keep-alive and a new connection per request) on ``127.0.0.1:port`` until :meth:`stop`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.keep_alive = Outcomes()
        self.fresh = Outcomes()
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._threads = [
            threading.Thread(target=self._loop, args=(self.keep_alive, True), daemon=True),
            threading.Thread(target=self._loop, args=(self.fresh, False), daemon=True),
        ]

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(60)

    def wait_for(self, done: Callable[[], bool], limit: float = 120.0) -> bool:
        """Block until ``done()`` holds after some answer (or ``limit`` seconds pass): whether it held."""
        with self._lock:
            return self._lock.wait_for(lambda: done() or self._stopping.is_set(), limit) and done()

    def answered(self, version: int, count: int) -> Callable[[], bool]:
        """A condition: both clients got at least ``count`` answers from ``version``."""
        return lambda: all(o.versions.count(version) >= count for o in (self.keep_alive, self.fresh))

    @property
    def errors(self) -> collections.Counter[str]:
        return self.keep_alive.errors + self.fresh.errors

    @property
    def statuses(self) -> collections.Counter[int]:
        return self.keep_alive.statuses + self.fresh.statuses

    def _loop(self, outcomes: Outcomes, keep_alive: bool) -> None:
        connection: http.client.HTTPConnection | None = None
        for _ in range(MAX_REQUESTS):
            if self._stopping.is_set():
                break
            if connection is None or not keep_alive:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self._one(connection, outcomes, keep_alive)
            if not keep_alive:
                connection.close()
        if connection is not None:
            connection.close()

    def _one(self, connection: http.client.HTTPConnection, outcomes: Outcomes, keep_alive: bool) -> None:
        headers = HEADERS if keep_alive else {**HEADERS, "Connection": "close"}
        try:
            connection.request("POST", "/predict", body=BODY, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            error = type(exc).__name__
            self._record(lambda: outcomes.errors.update([error]))
            return
        version = int(json.loads(body)["version"]) if response.status == 200 else None

        def keep() -> None:
            outcomes.statuses[response.status] += 1
            if version is not None:
                outcomes.versions.append(version)

        self._record(keep)

    def _record(self, change: Callable[[], None]) -> None:
        with self._lock:
            change()
            self._lock.notify_all()
