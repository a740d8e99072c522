"""The Docker engine, through its HTTP API (the ``docker`` package's low-level ``APIClient``).

The one place that creates an engine client and calls it: images (inspect, pull, build, tag,
push, a registry's manifest through the engine's ``distribution`` inspect) and containers (list,
create, start, inspect, stop, remove, logs). :meth:`DockerEngine.connect` turns an engine that
does not answer into the exit-3 :class:`~mlopsctl.errors.DockerUnreachable` naming
``DOCKER_HOST``; :meth:`DockerEngine.call` does the same for a connection lost later, turns a
refusal into an :class:`~mlopsctl.errors.MlopsError`, a missing object into :class:`NoSuchObject`
and an answer later than :meth:`DockerEngine.deadline` allows into :class:`EngineTimedOut`. Every
call is recorded in the operation log (kind ``docker``). Never the
``docker`` command line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from mlopsctl import oplog
from mlopsctl.errors import DockerUnreachable, MlopsError

DEFAULT_HOST = "unix:///var/run/docker.sock"
KIND = "docker"
Event = dict[str, Any]


class NoSuchObject(LookupError):
    """The engine has no such image or container."""


class EngineTimedOut(MlopsError):
    """The engine took the request but did not answer within the time this call allows."""

    title = "Docker engine timed out"


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def unreachable(detail: str = "") -> DockerUnreachable:
    """The error for an engine that does not answer; names DOCKER_HOST and how to set it."""
    address = engine_address()
    origin = "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else "the default; DOCKER_HOST is not set"
    suffix = f": {detail}" if detail else ""
    return DockerUnreachable(
        f"no Docker engine answers at {address} ({origin}){suffix}",
        hint="start the Docker engine, or point DOCKER_HOST at one that runs: "
        "export DOCKER_HOST=unix:///var/run/docker.sock (a local engine) "
        "or export DOCKER_HOST=tcp://HOST:2376 with DOCKER_TLS_VERIFY=1 (a remote one)",
    )


class DockerEngine:
    """One engine connection; every call through :meth:`call` or :meth:`stream` is recorded."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def connect(cls, timeout: float = 600.0) -> DockerEngine:
        """Connect to the engine DOCKER_HOST names (or the default socket) and check that it answers."""
        import docker
        import requests

        try:
            client = docker.APIClient(version="auto", timeout=timeout, **docker.utils.kwargs_from_env())
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            oplog.record(KIND, f"connect {engine_address()}", False, reason(exc))
            raise unreachable(reason(exc)) from exc
        oplog.record(KIND, f"connect {engine_address()}", True)
        return cls(client)

    def host_config(self, **settings: Any) -> dict[str, Any]:
        """A container's host configuration (built locally, no engine call)."""
        config: dict[str, Any] = self.client.create_host_config(**settings)
        return config

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Calls made inside wait at most ``seconds`` for the engine's answer (e.g. a registry check)."""
        saved = self.client.timeout
        self.client.timeout = min(seconds, saved) if saved else seconds
        try:
            yield
        finally:
            self.client.timeout = saved

    def call(self, command: str, operation: str, /, *args: Any, subject: str | None = None, **kwargs: Any) -> Any:
        """``APIClient.<operation>(*args, **kwargs)``, recorded as ``command``.

        A refusal is an MlopsError naming ``subject`` (default: the quoted command).
        """
        try:
            result = self._invoke(operation, args, kwargs, subject or f"'{command}'")
        except NoSuchObject:
            oplog.record(KIND, command, False, "not found")
            raise
        except MlopsError as exc:
            oplog.record(KIND, command, False, exc.message)
            raise
        oplog.record(KIND, command, True)
        return result

    def stream(self, command: str, operation: str, /, *args: Any, **kwargs: Any) -> Iterator[Event]:
        """The events of a streamed call (pull, build, push); a connection lost mid-stream is unreachable."""
        events = self._invoke(operation, args, {**kwargs, "decode": True}, operation)
        try:
            yield from _guard(events)
        except GeneratorExit:
            oplog.record(KIND, command, False, "stopped at an error")
            raise
        except MlopsError as exc:
            oplog.record(KIND, command, False, exc.message)
            raise
        oplog.record(KIND, command, True)

    def _invoke(self, operation: str, args: tuple[Any, ...], kwargs: dict[str, Any], subject: str) -> Any:
        import docker
        import requests

        try:
            return getattr(self.client, operation)(*args, **kwargs)
        except docker.errors.NotFound as exc:
            raise NoSuchObject(str(exc)) from exc
        except (requests.exceptions.ConnectionError, ConnectionError) as exc:
            raise unreachable(reason(exc)) from exc
        except requests.exceptions.Timeout as exc:
            raise EngineTimedOut(f"the Docker engine did not answer {subject} within {self.client.timeout} s") from exc
        except docker.errors.APIError as exc:
            raise MlopsError(f"the Docker engine refused {subject}: {exc.explanation or exc}") from exc


def _guard(events: Iterator[Event]) -> Iterator[Event]:
    """Turn a connection lost mid-stream into the unreachable error."""
    import requests

    try:
        yield from events
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise unreachable(reason(exc)) from exc


def reason(exc: BaseException) -> str:
    """A short reason for a failed connection: the known cause, else the exception's type."""
    text = str(exc)
    for marker in ("No such file or directory", "Connection refused", "Permission denied", "timed out"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
