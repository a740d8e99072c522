"""Asking a service whether it is ready, and waiting (bounded) until it is.

A service is ready when ``GET /health/ready`` answers 200 naming the expected model and version:
a 200 from some other model on the port (a stray process) is not ready. A 503 that says
``loading`` means alive and still loading its versions. Requests to 127.0.0.1 never go through a
proxy from the environment.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlopsctl.deploy.model import Health, ServiceSpec

PROBE_TIMEOUT = 2.0
POLL_SECONDS = 0.1
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(spec: ServiceSpec, port: int | None = None, timeout: float = PROBE_TIMEOUT) -> Health:
    """One ``/health/ready`` request to the service of ``spec`` (on ``port`` if given)."""
    url = f"http://127.0.0.1:{port or spec.port}/health/ready"
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return _judge(spec, response.status, _body(response.read()))
    except urllib.error.HTTPError as exc:
        return _judge(spec, exc.code, _body(exc.read()))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        problem = f"/health/ready on :{port or spec.port} does not answer ({reason})"
        return Health(alive=True, problem=problem, listening=False)


def probe_all(specs: list[tuple[ServiceSpec, int]]) -> list[Health]:
    """Many probes at once (plans over many services stay fast)."""
    if len(specs) <= 1:
        return [probe(spec, port) for spec, port in specs]
    with ThreadPoolExecutor(max_workers=min(16, len(specs))) as pool:
        return list(pool.map(lambda item: probe(*item), specs))


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
