"""The log of outside operations (git, docker, processes, HTTP, Prometheus) that mlopsctl ran, as lazygit keeps one.

The ports (:mod:`mlopsctl.ports`) call :func:`record` for every call to the outside world;
the dashboard subscribes and shows the entries in its Log view. Listeners may be called from
worker threads, so they must be thread-safe (appending to a deque is).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    at: float
    kind: str
    """git, docker, process, http or prometheus."""
    command: str
    ok: bool
    detail: str = ""


Listener = Callable[[Operation], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def record(kind: str, command: str, ok: bool, detail: str = "") -> None:
    entry = Operation(time.time(), kind, command, ok, detail)
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(entry)


def subscribe(listener: Listener) -> Callable[[], None]:
    """Start calling ``listener`` for every operation; returns the function that stops it."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe
