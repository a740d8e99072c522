"""What the faces ask of serving: a registered version (and maybe a candidate) served locally.

:func:`prepare_local` loads and verifies the versions of a request that :func:`serve_request`
reads the way ``mlopsctl serve`` spells it (``churn@3``, a candidate as ``4`` or ``churn@4``);
:func:`serve_local` then runs the service in the foreground until Ctrl-C or SIGTERM;
:func:`explain` finds a request in the prediction logs and answers it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlopsctl.contract.versions import parse_ref
from mlopsctl.errors import UsageError
from mlopsctl.serve.explain import Explanation, explain_request
from mlopsctl.serve.httpserver import Limits
from mlopsctl.serve.local import Listening, ServeRequest, prepare, run
from mlopsctl.serve.service import Service, Strategy
from mlopsctl.spec.loader import scan_repo


@dataclass(frozen=True)
class LocalService:
    """A prepared service and where it will listen."""

    service: Service
    limits: Limits
    host: str
    port: int


@dataclass(frozen=True)
class ServeOptions:
    """How to serve, as the user gave it: the candidate unparsed, the port possibly unset."""

    candidate: str | None = None
    strategy: Strategy = "canary"
    weight: float = 10.0
    host: str = "127.0.0.1"
    port: int | None = None
    seed: int | None = None


def serve_request(ref: str, options: ServeOptions) -> ServeRequest:
    """``MODEL@VERSION`` and the options as one request; a bad reference or candidate is a UsageError."""
    model, version = parse_ref(ref)
    candidate = candidate_version(model, options.candidate)
    return ServeRequest(
        model, version, candidate, options.strategy, options.weight, options.host, options.port, options.seed
    )


def candidate_version(model: str, text: str | None) -> int | None:
    """The candidate's version number from ``4``, ``v4`` or ``churn@4`` (None when not given)."""
    if text is None:
        return None
    found = parse_ref(text if "@" in text else f"{model}@{text}")
    if found[0] != model or found[1] is None:
        raise UsageError(
            f"--candidate '{text}' is not a version of {model}", hint="give a version number, e.g. --candidate 4"
        )
    return found[1]


def prepare_local(root: Path, request: ServeRequest) -> LocalService:
    """Load and verify the requested versions of the repository at ``root``; compile the service."""
    service, limits, port = prepare(scan_repo(root), request)
    return LocalService(service, limits, request.host, port)


def serve_local(local: LocalService, on_listening: Callable[[Listening], None]) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM; ``on_listening`` runs once it answers."""
    run(local.service, local.limits, local.host, local.port, on_listening)


def explain(root: Path, request_id: str, env: str | None = None) -> Explanation:
    """Which version answered ``request_id`` (from the prediction logs), re-run on the same inputs."""
    return explain_request(scan_repo(root), request_id, env)


__all__ = [
    "Explanation",
    "Listening",
    "LocalService",
    "ServeOptions",
    "ServeRequest",
    "candidate_version",
    "explain",
    "prepare_local",
    "serve_local",
    "serve_request",
]
