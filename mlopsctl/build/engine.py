"""Images on the Docker engine: what a build asks of it and how its answers read.

Inspect, probe a base image's Python, pull a missing base, build from a context with streamed
progress (counting steps and cached steps), tag and push, ask the registry whether it holds a
manifest (one request through the engine's ``distribution`` inspect, with the engine's own
registry credentials and a bounded wait) and pull an image by its digest, with the errors a user
can act on (build failed, push refused, registry unreachable). The engine itself (client creation, the
exit-3 error naming ``DOCKER_HOST``, recording every call) is :mod:`mlopsctl.ports.docker`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from mlopsctl.build.pins import TargetPython
from mlopsctl.errors import MlopsError, UnreachableError
from mlopsctl.ports.docker import DockerEngine, EngineTimedOut, Event, NoSuchObject, unreachable

__all__ = [
    "BuildFailed",
    "BuildOutcome",
    "Engine",
    "Event",
    "PullFailed",
    "PushFailed",
    "RegistryUnreachable",
    "unreachable",
]

PROBE_CODE = (
    "import json, platform, sys; "
    "print(json.dumps({'version': list(sys.version_info[:3]), 'machine': platform.machine(), "
    "'libc': platform.libc_ver()}))"
)
OnEvent = Callable[[Event], None]
REGISTRY_CHECK_SECONDS = 20.0
"""The longest a registry check waits: plan asks one per version it would start."""


class BuildFailed(MlopsError):
    title = "Image build failed"


class PushFailed(MlopsError):
    title = "Image push failed"


class PullFailed(MlopsError):
    title = "Image pull failed"


class RegistryUnreachable(UnreachableError):
    title = "Image registry unreachable"


@dataclass
class BuildOutcome:
    image_id: str
    steps: int = 0
    cached_steps: int = 0
    log: list[str] = field(default_factory=list)


class Engine:
    """One engine connection, for building images (the calls go through :mod:`mlopsctl.ports.docker`)."""

    def __init__(self, docker: DockerEngine) -> None:
        self.docker = docker

    @classmethod
    def connect(cls, timeout: float = 600.0) -> Engine:
        """Connect to the engine DOCKER_HOST names (or the default socket) and check that it answers."""
        return cls(DockerEngine.connect(timeout))

    def server_version(self) -> str:
        return str(self.docker.call("docker version", "version", subject="version").get("Version", "?"))

    def image(self, reference: str) -> dict[str, Any] | None:
        """``docker image inspect``, or None when the engine has no such image."""
        try:
            found: dict[str, Any] = self.docker.call(
                f"docker image inspect {reference}", "inspect_image", reference, subject="inspect_image"
            )
        except NoSuchObject:
            return None
        return found

    def pull(self, reference: str, on_event: OnEvent | None = None) -> None:
        """Pull a base image the engine does not have; a registry that does not answer is exit 3."""
        repository, tag = split_reference(reference)
        try:
            self._stream_pull(reference, repository, tag, on_event, _pull_error)
        except (UnreachableError, BuildFailed):
            raise
        except MlopsError as exc:
            raise _pull_error(reference, exc.message) from exc

    def probe_python(self, image: str) -> TargetPython:
        """Run the image's python3 once (no network) to learn its version, machine and glibc."""
        container = self.docker.call(
            f"docker create {image} python3 -c (probe)",
            "create_container",
            image,
            command=["python3", "-c", PROBE_CODE],
            entrypoint=[],
            user="65534:65534",
            network_disabled=True,
            host_config=self.docker.host_config(network_mode="none"),
            subject="create_container",
        )
        try:
            output, status = self._run_probe(container)
        finally:
            self.docker.call("docker rm probe", "remove_container", container, force=True, subject="remove_container")
        if status.get("StatusCode") != 0:
            raise BuildFailed(
                f"base image {image} cannot run python3: {output.strip()[-500:]}",
                hint="image.base in mlops.yaml must be an image with python3 (glibc based, e.g. python:3.11-slim)",
            )
        return _target_from_probe(image, output)

    def _run_probe(self, container: Any) -> tuple[str, dict[str, Any]]:
        self.docker.call("docker start probe", "start", container, subject="start")
        status: dict[str, Any] = self.docker.call("docker wait probe", "wait", container, timeout=120, subject="wait")
        logs = self.docker.call("docker logs probe", "logs", container, stdout=True, stderr=True, subject="logs")
        return bytes(logs).decode(errors="replace"), status

    def build(
        self, context: IO[bytes], tag: str, on_event: OnEvent | None = None, *, no_cache: bool = False
    ) -> BuildOutcome:
        """Build from an uncompressed tar context, offline (network none), streaming each event."""
        events = self.docker.stream(
            f"docker build -t {tag} --network none",
            "build",
            fileobj=context,
            custom_context=True,
            tag=tag,
            nocache=no_cache,
            rm=True,
            forcerm=True,
            pull=False,
            network_mode="none",
            use_config_proxy=False,
        )
        return _follow_build(events, on_event)

    def tag(self, image_id: str, reference: str) -> None:
        repository, tag = split_reference(reference)
        self.docker.call(
            f"docker tag {image_id} {reference}", "tag", image_id, repository, tag=tag, force=True, subject="tag"
        )

    def push(self, reference: str, on_event: OnEvent | None = None) -> str:
        """Push one reference; returns the registry's manifest digest."""
        repository, tag = split_reference(reference)
        digest = ""
        for event in self.docker.stream(f"docker push {reference}", "push", repository, tag=tag, stream=True):
            if "error" in event:
                raise _push_error(reference, str(event["error"]))
            digest = str((event.get("aux") or {}).get("Digest") or digest)
            if on_event is not None:
                on_event(event)
        if not digest:
            raise PushFailed(f"the registry did not report a digest for {reference}")
        return digest

    def holds_manifest(self, pinned: str) -> bool:
        """Whether the registry has ``name@sha256:...`` (its manifest, nothing downloaded).

        A registry that does not answer, or not within REGISTRY_CHECK_SECONDS, is exit 3; one
        that refuses (credentials) is a PullFailed naming it.
        """
        try:
            with self.docker.deadline(REGISTRY_CHECK_SECONDS):
                self.docker.call(
                    f"docker manifest inspect {pinned}",
                    "inspect_distribution",
                    pinned,
                    subject=f"the manifest {pinned}",
                )
        except NoSuchObject:
            return False
        except EngineTimedOut as exc:
            raise _registry_down(pinned, f"no answer within {REGISTRY_CHECK_SECONDS:.0f} s") from exc
        except UnreachableError:
            raise
        except MlopsError as exc:
            raise _pull_refused(pinned, exc.message) from exc
        return True

    def _stream_pull(
        self,
        reference: str,
        name: str,
        tag: str,
        on_event: OnEvent | None,
        refused: Callable[[str, str], MlopsError],
    ) -> None:
        """The engine's pull events, each passed on; an error event raises ``refused(reference, error)``."""
        for event in self.docker.stream(f"docker pull {reference}", "pull", name, tag=tag, stream=True):
            if "error" in event:
                raise refused(reference, str(event["error"]))
            if on_event is not None:
                on_event(event)

    def pull_pinned(self, pinned: str, on_event: OnEvent | None = None) -> dict[str, Any]:
        """Pull ``name@sha256:...`` (by digest, never by tag) and return the image, its RepoDigests checked."""
        name, _, digest = pinned.partition("@")
        try:
            self._stream_pull(pinned, name, digest, on_event, _pull_refused)
        except (UnreachableError, PullFailed):
            raise
        except NoSuchObject as exc:
            raise PullFailed(f"the registry has no image {pinned}") from exc
        except MlopsError as exc:
            raise _pull_refused(pinned, exc.message) from exc
        found = self.image(pinned)
        if found is None or pinned not in (found.get("RepoDigests") or []):
            held = ", ".join((found or {}).get("RepoDigests") or []) or "nothing"
            raise PullFailed(
                f"after pulling {pinned} the engine holds {held} under that name, not the digest asked for"
            )
        return found


def split_reference(reference: str) -> tuple[str, str]:
    """``host:5000/a/b:v3`` -> ("host:5000/a/b", "v3"); no tag means latest."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, "latest"
    return name, tag


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


def _registry_down(pinned: str, error: str) -> RegistryUnreachable:
    return RegistryUnreachable(
        f"the registry of {pinned.partition('@')[0]} does not answer: {error}",
        hint="check image.registry in mlops.yaml (or MLOPS_IMAGE_REGISTRY) and that the registry is up "
        "and reachable from the Docker engine",
    )


def _pull_refused(pinned: str, error: str) -> MlopsError:
    lowered = error.lower()
    if any(word in lowered for word in NETWORK_WORDS):
        return _registry_down(pinned, error)
    if "denied" in lowered or "unauthorized" in lowered or "authentication" in lowered:
        host = pinned.split("/", 1)[0]
        return PullFailed(
            f"the registry refused {pinned}: {error}", hint=f"log in to the registry: docker login {host}"
        )
    return PullFailed(f"pulling {pinned} failed: {error}")


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
