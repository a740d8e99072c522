"""The Docker engine, through its HTTP API (the ``docker`` package's low-level ``APIClient``).

The one place that talks to the engine for images: connect (with a clear exit-3 error naming
``DOCKER_HOST`` when nothing answers), inspect, probe a base image's Python, build from a context
with streamed progress, tag and push. Never the ``docker`` command line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from mlopsctl.build.pins import TargetPython
from mlopsctl.errors import DockerUnreachable, MlopsError, UnreachableError

DEFAULT_HOST = "unix:///var/run/docker.sock"
PROBE_CODE = (
    "import json, platform, sys; "
    "print(json.dumps({'version': list(sys.version_info[:3]), 'machine': platform.machine(), "
    "'libc': platform.libc_ver()}))"
)
Event = dict[str, Any]
OnEvent = Callable[[Event], None]


class BuildFailed(MlopsError):
    title = "Image build failed"


class PushFailed(MlopsError):
    title = "Image push failed"


class RegistryUnreachable(UnreachableError):
    title = "Image registry unreachable"


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


@dataclass
class BuildOutcome:
    image_id: str
    steps: int = 0
    cached_steps: int = 0
    log: list[str] = field(default_factory=list)


class Engine:
    """One engine connection."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def connect(cls, timeout: float = 600.0) -> Engine:
        """Connect to the engine DOCKER_HOST names (or the default socket) and check that it answers."""
        import docker
        import requests

        try:
            client = docker.APIClient(version="auto", timeout=timeout, **docker.utils.kwargs_from_env())
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            raise unreachable(_reason(exc)) from exc
        return cls(client)

    def server_version(self) -> str:
        return str(self._call(self.client.version).get("Version", "?"))

    def image(self, reference: str) -> dict[str, Any] | None:
        """``docker image inspect``, or None when the engine has no such image."""
        import docker

        try:
            found: dict[str, Any] = self._call(self.client.inspect_image, reference)
        except docker.errors.ImageNotFound:
            return None
        return found

    def pull(self, reference: str, on_event: OnEvent | None = None) -> None:
        """Pull a base image the engine does not have; a registry that does not answer is exit 3."""
        repository, tag = split_reference(reference)
        try:
            for event in _guard(self._call(self.client.pull, repository, tag=tag, stream=True, decode=True)):
                if "error" in event:
                    raise _pull_error(reference, str(event["error"]))
                if on_event is not None:
                    on_event(event)
        except (UnreachableError, BuildFailed):
            raise
        except MlopsError as exc:
            raise _pull_error(reference, exc.message) from exc

    def probe_python(self, image: str) -> TargetPython:
        """Run the image's python3 once (no network) to learn its version, machine and glibc."""
        container = self._call(
            self.client.create_container,
            image,
            command=["python3", "-c", PROBE_CODE],
            entrypoint=[],
            user="65534:65534",
            network_disabled=True,
            host_config=self.client.create_host_config(network_mode="none"),
        )
        try:
            self._call(self.client.start, container)
            status = self._call(self.client.wait, container, timeout=120)
            output = self._call(self.client.logs, container, stdout=True, stderr=True).decode(errors="replace")
        finally:
            self._call(self.client.remove_container, container, force=True)
        if status.get("StatusCode") != 0:
            raise BuildFailed(
                f"base image {image} cannot run python3: {output.strip()[-500:]}",
                hint="image.base in mlops.yaml must be an image with python3 (glibc based, e.g. python:3.11-slim)",
            )
        return _target_from_probe(image, output)

    def build(
        self, context: IO[bytes], tag: str, on_event: OnEvent | None = None, *, no_cache: bool = False
    ) -> BuildOutcome:
        """Build from an uncompressed tar context, offline (network none), streaming each event."""
        events = self._call(
            self.client.build,
            fileobj=context,
            custom_context=True,
            tag=tag,
            nocache=no_cache,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            network_mode="none",
            use_config_proxy=False,
        )
        return _follow_build(_guard(events), on_event)

    def tag(self, image_id: str, reference: str) -> None:
        repository, tag = split_reference(reference)
        self._call(self.client.tag, image_id, repository, tag=tag, force=True)

    def push(self, reference: str, on_event: OnEvent | None = None) -> str:
        """Push one reference; returns the registry's manifest digest."""
        repository, tag = split_reference(reference)
        digest = ""
        for event in _guard(self._call(self.client.push, repository, tag=tag, stream=True, decode=True)):
            if "error" in event:
                raise _push_error(reference, str(event["error"]))
            digest = str((event.get("aux") or {}).get("Digest") or digest)
            if on_event is not None:
                on_event(event)
        if not digest:
            raise PushFailed(f"the registry did not report a digest for {reference}")
        return digest

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import docker
        import requests

        try:
            return method(*args, **kwargs)
        except docker.errors.NotFound:
            raise
        except (requests.exceptions.ConnectionError, ConnectionError) as exc:
            raise unreachable(_reason(exc)) from exc
        except docker.errors.APIError as exc:
            raise MlopsError(f"the Docker engine refused {method.__name__}: {exc.explanation or exc}") from exc


def split_reference(reference: str) -> tuple[str, str]:
    """``host:5000/a/b:v3`` -> ("host:5000/a/b", "v3"); no tag means latest."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, "latest"
    return name, tag


def _guard(events: Iterator[Event]) -> Iterator[Event]:
    """Turn a connection lost mid-stream into the unreachable error."""
    import requests

    try:
        yield from events
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise unreachable(_reason(exc)) from exc


def _follow_build(events: Iterator[Event], on_event: OnEvent | None) -> BuildOutcome:
    outcome = BuildOutcome(image_id="")
    for event in events:
        if "error" in event:
            raise BuildFailed(
                f"the engine stopped the build: {str(event['error']).strip()}",
                hint="the lines above show the step that failed; run again with -o json to see every event",
            )
        text = str(event.get("stream") or "")
        if text.startswith("Step "):
            outcome.steps += 1
        if "Using cache" in text:
            outcome.cached_steps += 1
        if text.strip():
            outcome.log.append(text.rstrip("\n"))
        outcome.image_id = str((event.get("aux") or {}).get("ID") or outcome.image_id)
        if on_event is not None:
            on_event(event)
    if not outcome.image_id:
        raise BuildFailed("the engine finished the build without reporting an image ID")
    return outcome


NETWORK_WORDS = ("connection refused", "no such host", "i/o timeout", "dial tcp", "network is unreachable", "eof")


def _pull_error(reference: str, error: str) -> MlopsError:
    message = f"base image {reference} is not on the engine and could not be pulled: {error}"
    hint = (
        "set image.base in mlops.yaml to an image the engine has (docker image ls), "
        "or load one into it (docker load -i FILE)"
    )
    if any(word in error.lower() for word in NETWORK_WORDS):
        return RegistryUnreachable(message, hint=hint)
    return BuildFailed(message, hint=hint)


def _push_error(reference: str, error: str) -> MlopsError:
    lowered = error.lower()
    if any(word in lowered for word in NETWORK_WORDS):
        return RegistryUnreachable(
            f"the registry of {reference} does not answer: {error}",
            hint="check image.registry in mlops.yaml and that the registry is up and reachable from the engine",
        )
    if "denied" in lowered or "unauthorized" in lowered or "authentication" in lowered:
        hint = "log in to the registry: docker login HOST"
        return PushFailed(f"the registry refused {reference}: {error}", hint=hint)
    return PushFailed(f"pushing {reference} failed: {error}")


def _target_from_probe(image: str, output: str) -> TargetPython:
    for line in reversed(output.splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        major, minor = (int(part) for part in found["version"][:2])
        libc_name, libc_version = found["libc"]
        if libc_name != "glibc":
            raise BuildFailed(
                f"base image {image} uses {libc_name or 'an unknown C library'}, not glibc; "
                "the wheelhouse holds manylinux wheels",
                hint="use a Debian- or Ubuntu-based Python image, e.g. python:3.11-slim",
            )
        glibc = tuple(int(part) for part in str(libc_version).split(".")[:2])
        return TargetPython(version=(major, minor), machine=str(found["machine"]), glibc=(glibc[0], glibc[1]))
    raise BuildFailed(f"could not read the probe of base image {image}: {output.strip()[-300:]}")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("No such file or directory", "Connection refused", "Permission denied", "timed out"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
