"""Asking a service whether it is ready, and waiting (bounded) until it is.

A service is ready when ``GET /health/ready`` answers 200 naming the expected model and version:
a 200 from some other model on the port (a stray process) is not ready. A 503 that says
``loading`` means alive and still loading its versions. Probes go through the HTTP port's
:func:`~mlopsctl.ports.http.loopback_get` (plain connections to 127.0.0.1, never through a proxy
from the environment, each recorded in the operation log), many at once on one event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from mlopsctl.deploy.model import Health, ServiceSpec
from mlopsctl.ports import http

PROBE_TIMEOUT = 2.0
POLL_SECONDS = 0.1
CONCURRENT_PROBES = 64


def probe(spec: ServiceSpec, port: int | None = None, timeout: float = PROBE_TIMEOUT) -> Health:
    """One ``/health/ready`` request to the service of ``spec`` (on ``port`` if given)."""
    return asyncio.run(_probe(spec, port or spec.port, timeout, asyncio.Semaphore(1)))


def probe_all(specs: list[tuple[ServiceSpec, int]]) -> list[Health]:
    """Many probes at once, on one event loop (a plan over hundreds of services stays fast)."""
    if not specs:
        return []

    async def every() -> list[Health]:
        limit = asyncio.Semaphore(CONCURRENT_PROBES)
        return list(await asyncio.gather(*(_probe(spec, port, PROBE_TIMEOUT, limit) for spec, port in specs)))

    return asyncio.run(every())


async def _probe(spec: ServiceSpec, port: int, timeout: float, limit: asyncio.Semaphore) -> Health:
    async with limit:
        try:
            status, body = await http.loopback_get(port, "/health/ready", timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            reason = type(exc).__name__ if isinstance(exc, TimeoutError) else (getattr(exc, "strerror", None) or exc)
            problem = f"/health/ready on :{port} does not answer ({reason})"
            return Health(alive=True, problem=problem, listening=False)
    return _judge(spec, status, _body(body))


def wait_ready(spec: ServiceSpec, port: int, timeout: float, still_alive: Callable[[], str | None]) -> str | None:
    """Poll until the service is ready; returns None, or why it never became ready.

    ``still_alive`` returns why the process or container is gone (then waiting stops at once).
    """
    deadline = time.monotonic() + timeout
    last = "it did not answer"
    while True:
        gone = still_alive()
        if gone is not None:
            return gone
        health = probe(spec, port, timeout=min(PROBE_TIMEOUT, max(0.2, deadline - time.monotonic())))
        if health.ready:
            return None
        last = health.problem or last
        if time.monotonic() >= deadline:
            return f"not ready after {timeout:g} s: {last}"
        time.sleep(POLL_SECONDS)


def _judge(spec: ServiceSpec, status: int, body: dict[str, Any]) -> Health:
    if status == 200:
        model, version = body.get("model"), body.get("version")
        if model == spec.model and version == spec.version:
            return Health(alive=True, ready=True)
        return Health(alive=True, problem=f"port {spec.port} is answered by {model}@{version}, not {spec.ref}")
    state = str(body.get("status") or f"HTTP {status}")
    if state == "loading":
        return Health(alive=True, starting=True, problem="still loading")
    error = f": {body['error']}" if body.get("error") else ""
    return Health(alive=True, problem=f"/health/ready says {state}{error}")


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
