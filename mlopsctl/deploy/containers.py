"""The ``docker`` target: prediction services as containers, through the engine's API.

Each service is a container of its stable version's image (``[<registry>/]<project>/<model>:v<N>``),
on the host network, listening on the service's port (``PORT``), restarted by the engine
unless stopped. Its labels say everything about it, so the engine is the state:

    dev.mlopsctl.repo, .project, .env, .model, .version, .candidate, .strategy, .weight, .port,
    .instance, .role (service or preflight), .started-at, .managed-by=mlopsctl

Where the image comes from: when ``registry/<model>/images.yaml`` records a digest pushed to
``image.registry`` for the version, the image is pulled by that digest (never by tag) unless the
engine already holds it, its RepoDigests and its artifact label are checked against what Git
says, and it is tagged as the name above; a pushed image that cannot be pulled fails the start,
it is never silently rebuilt. Only a version nothing was pushed for is built on this machine
(:func:`mlopsctl.build.api.build_image`, when the engine lacks it or holds another build).

A canary or shadow container also holds the candidate: its record and artifact are copied into
the container before it starts (``/tmp/mlopsctl-candidate/``), so the candidate runs in the stable
version's serving environment (the same mlopsctl; the service refuses an artifact it cannot load,
and apply then rolls back). Labels are set when the container is created, so an apply killed at
any point leaves nothing the next one cannot find. Every engine call goes through
:mod:`mlopsctl.ports.docker`, which records it in the operation log.

**Swaps without a gap.** When the engine runs on this machine and the image says it can
(label ``dev.mlopsctl.serve-handover``), a container gets the environment's handover folder,
``<state_dir>/deploy/handover/<env>``, bind-mounted at ``/run/mlopsctl-handover``, and runs as the
user who runs apply (never as root: when root applies, as the image's user 10001, which then owns
the mounted folders): its service waits there for a successor exactly as a local process does
(:mod:`mlopsctl.serve.handover`: ``--handover``, ``--take-over``, one listening socket passed over
``SCM_RIGHTS``; both sides are the same user, so ``SO_PEERCRED`` lets them, and apply sees the
socket file). All containers share the host's network, so the passed socket is the port itself.
Before a takeover the old container's restart policy becomes ``no`` (it exits once drained and
must stay gone); a takeover that fails gives it ``unless-stopped`` back. A remote engine (the
folder would be on another machine) or an older image falls back to stop-then-start.

**The prediction log.** For the same containers, the model's log folder in this machine's state
folder (``predictions/env/<env>/<model>``, where ``explain``, feedback and ``retrain`` read the
local target's log) is bind-mounted at ``/var/lib/mlopsctl/predictions`` and the service writes
there, with the spec's sample, size and file count: the files are the container user's (above),
readable by apply's user, and outlive every container. A remote engine or an older image logs
nothing, and apply says so once.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlopsctl import oplog
from mlopsctl.build.api import HANDOVER_LABEL, LABEL_PREFIX, Progress, build_image
from mlopsctl.build.engine import Engine, Event, PullFailed
from mlopsctl.build.images import PinnedImage, pushed_image
from mlopsctl.build.references import version_reference
from mlopsctl.deploy.handover import INSTANCE_ID, handover_path, is_socket, remove_left_socket
from mlopsctl.deploy.model import PREFLIGHT, SERVICE, Health, Instance, ServiceSpec
from mlopsctl.deploy.runtime import Launch, Say, VersionFiles
from mlopsctl.deploy.state import now
from mlopsctl.fsio import refuse_links
from mlopsctl.ports.docker import DockerEngine, NoSuchObject, engine_address
from mlopsctl.spec.loader import Repo

GRACE_SECONDS = 15
CANDIDATE_DIR = "/tmp/mlopsctl-candidate"
CONTAINER_USER = 10001
HANDOVER_DIR = "/run/mlopsctl-handover"
"""Where a container sees its environment's handover folder (a unix socket path must stay short)."""
CONTAINER_LOG_DIR = "/var/lib/mlopsctl/predictions"
"""Where a container's service writes its prediction log (the model's log folder, bind-mounted)."""
KEEP_RUNNING = {"Name": "unless-stopped"}
PULL_STEPS = ("Pull complete", "Already exists")
"""The pull events shown, one line per layer; the byte counts in between are not."""


class DockerRuntime:
    """Containers on the engine ``DOCKER_HOST`` names, for one repository."""

    target = "docker"

    def __init__(self, repo: Repo, engine: Engine | None = None) -> None:
        self.repo = repo
        self.root = str(repo.root)
        self._engine = engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine.connect(timeout=120)
        return self._engine

    @property
    def docker(self) -> DockerEngine:
        return self.engine.docker

    # ------------------------------------------------------------------ observing

    def observe(self, env: str) -> list[Instance]:
        filters = {"label": [f"{LABEL_PREFIX}.repo={self.root}", f"{LABEL_PREFIX}.env={env}"]}
        found = self.docker.call("docker ps", "containers", all=True, filters=filters)
        return [_instance(row, env) for row in found]

    def gone(self, instance: Instance) -> str | None:
        try:
            state = self.docker.call(
                f"docker inspect {_short(instance.container)}", "inspect_container", instance.container
            )["State"]
        except NoSuchObject:
            return f"container {_short(instance.container)} no longer exists"
        if state.get("Status") != "running":
            code = state.get("ExitCode")
            return f"container {_short(instance.container)} is {state.get('Status')} (exit code {code})"
        restarts = int(state.get("RestartCount") or 0)
        if restarts:
            return f"container {_short(instance.container)} exited and was restarted {restarts} time(s)"
        return None

    # ------------------------------------------------------------------ images

    def prepare(self, specs: list[ServiceSpec], files: dict[tuple[str, int], VersionFiles], say: Say) -> None:
        """Pull (by digest) or build the image of every stable version about to start that the engine lacks."""
        for spec in specs:
            reference = version_reference(self.repo, spec.model, spec.version)
            expected = files[(spec.model, spec.version)].artifact_sha256
            pushed = pushed_image(self.repo, spec.model, spec.version)
            if pushed is not None:
                self._use_pushed(spec, reference, pushed, expected, say)
            elif not self._image_holds(reference, expected):
                say(f"building image {reference} (mlopsctl build {spec.ref}): no image of it was pushed")
                build_image(self.repo, spec.ref, engine=self.engine, progress=_Notes(say))
                oplog.record("docker", f"build {reference}", True)

    def _use_pushed(self, spec: ServiceSpec, reference: str, pushed: PinnedImage, sha256: str, say: Say) -> None:
        """The pushed image under the version's name: pulled by digest unless the engine holds that digest."""
        found = self.engine.image(pushed.pinned)
        if found is None or pushed.pinned not in (found.get("RepoDigests") or []):
            say(f"pulling image {pushed.pinned} (pushed for {spec.ref}, {pushed.where})")
            found = self.engine.pull_pinned(pushed.pinned, _Notes(say).event)
        labels = (found.get("Config") or {}).get("Labels") or {}
        held = labels.get(f"{LABEL_PREFIX}.artifact-sha256")
        if held != sha256:
            raise PullFailed(
                f"{pushed.pinned} ({pushed.where}) serves artifact sha256:{str(held)[:12]}, "
                f"but the record of {spec.ref} names sha256:{sha256[:12]}",
                hint=f"push the right image from a machine that has it: mlopsctl build {spec.ref} --push",
            )
        current = self.engine.image(reference)
        if current is None or current.get("Id") != found.get("Id"):
            self.engine.tag(str(found["Id"]), reference)

    def _image_holds(self, reference: str, sha256: str) -> bool:
        found = self.engine.image(reference)
        labels = ((found or {}).get("Config") or {}).get("Labels") or {}
        return found is not None and labels.get(f"{LABEL_PREFIX}.artifact-sha256") == sha256

    # ------------------------------------------------------------------ starting and stopping

    def start(self, launch: Launch) -> Instance:
        spec = launch.spec
        instance = Instance(spec=spec, id=launch.instance_id, env=launch.env, role=launch.role, started_at=now())
        name = f"mlops-{self.repo.settings.name}-{launch.env}-{spec.model}-{launch.instance_id}"
        reference = version_reference(self.repo, spec.model, spec.version)
        shares = launch.role == SERVICE and self.handover_refusal(spec) is None
        binds = self._binds(launch) if shares else {}
        launch = replace(launch, prediction_log=CONTAINER_LOG_DIR if launch.prediction_log else None)
        if not shares:  # a preflight, an older image or a remote engine: no handover, nothing logged
            launch = replace(launch, prediction_log=None, performance_metric=None)
        command = launch.candidate_arguments(f"{CANDIDATE_DIR}/record.yaml", f"{CANDIDATE_DIR}/model.skops")
        command += launch.limit_arguments() + (_handover_arguments(launch) if shares else [])
        policy = {"Name": "no"} if launch.role == PREFLIGHT else KEEP_RUNNING
        created = self.docker.call(
            f"docker create --name {name} --network host {reference}",
            "create_container",
            reference,
            name=name,
            command=command,
            environment={"PORT": str(spec.port)},
            labels=self._labels(instance),
            # one user for every container of the repo: SO_PEERCRED lets them hand over to each other
            **({"user": "{}:{}".format(*container_user())} if shares else {}),
            host_config=self.docker.host_config(network_mode="host", restart_policy=policy, binds=binds),
        )
        instance.container = str(created["Id"])
        if launch.candidate is not None:
            archive = _candidate_archive(launch.candidate)
            self.docker.call(f"docker cp candidate into {name}", "put_archive", instance.container, "/tmp", archive)
        self.docker.call(f"docker start {name}", "start", instance.container)
        return instance

    def _binds(self, launch: Launch) -> dict[str, dict[str, str]]:
        """The environment's handover folder and, when the spec logs, the model's log folder (both made here)."""
        own = handover_path(self.repo, launch.env, launch.instance_id)
        assert own is not None  # apply's instance ids are hex tokens
        own.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _hand_to_container_user(own.parent)
        binds = {str(own.parent): {"bind": HANDOVER_DIR, "mode": "rw"}}
        if launch.prediction_log:
            folder = refuse_links(self.repo.root, Path(launch.prediction_log))
            folder.mkdir(parents=True, exist_ok=True)
            _hand_to_container_user(folder)
            binds[str(folder)] = {"bind": CONTAINER_LOG_DIR, "mode": "rw"}
        return binds

    # ------------------------------------------------------------------ handing the port over

    @property
    def hands_over(self) -> bool:
        """Same-port swaps hand the listening socket over, when the engine shares this machine's folders."""
        return engine_is_local()

    def handover_refusal(self, spec: ServiceSpec, old: Instance | None = None) -> str | None:
        """Why a container of ``spec`` cannot take the port over (from ``old``, when given); None: it can."""
        if not engine_is_local():
            return (
                f"the Docker engine at {engine_address()} is not on this machine "
                "(the containers would need a folder on this machine to hand the port over)"
            )
        reference = version_reference(self.repo, spec.model, spec.version)
        found = self.engine.image(reference)
        labels = ((found or {}).get("Config") or {}).get("Labels") or {}
        if labels.get(HANDOVER_LABEL) != "1":
            return (
                f"the image {reference} was built without handover support (no label {HANDOVER_LABEL}); "
                f"rebuild it with this mlopsctl: mlopsctl build {spec.ref}"
            )
        if old is not None and not self.holds_port(old):
            return f"{old.where} was started without a handover socket"
        return None

    def holds_port(self, instance: Instance) -> bool:
        """Its handover socket exists and the container runs: it accepts on its port and can be replaced."""
        path = handover_path(self.repo, instance.env, instance.id)
        return is_socket(path) and self.gone(instance) is None

    def release(self, instance: Instance) -> None:
        """Before a takeover: the old container exits once drained, and the engine must not restart it."""
        self._restart_policy(instance, {"Name": "no"})

    def keep(self, instance: Instance) -> None:
        """After a failed takeover: the old container serves on, restarted by the engine as before."""
        self._restart_policy(instance, KEEP_RUNNING)

    def _restart_policy(self, instance: Instance, policy: dict[str, str]) -> None:
        container = instance.container
        command = f"docker update --restart={policy['Name']} {_short(container)}"
        self.docker.call(command, "update_container", container, restart_policy=policy)

    def _labels(self, instance: Instance) -> dict[str, str]:
        spec = instance.spec
        values = {
            "managed-by": "mlopsctl",
            "repo": self.root,
            "project": self.repo.settings.name,
            "env": instance.env,
            "model": spec.model,
            "version": str(spec.version),
            "candidate": "" if spec.candidate is None else str(spec.candidate),
            "strategy": spec.strategy,
            "weight": "" if spec.weight is None else str(spec.weight),
            "port": str(spec.port),
            "instance": instance.id,
            "role": instance.role,
            "started-at": instance.started_at,
        }
        return {f"{LABEL_PREFIX}.{key}": value for key, value in values.items()}

    def stop(self, instance: Instance) -> None:
        container = instance.container
        with_name = f"{_short(container)} ({instance.spec.describe()})"
        try:
            self.docker.call(f"docker stop {with_name}", "stop", container, timeout=GRACE_SECONDS)
            self.docker.call(f"docker rm {_short(container)}", "remove_container", container, force=True)
        except NoSuchObject:
            pass
        remove_left_socket(self.repo, instance.env, instance.id)

    def log_tail(self, instance: Instance, lines: int = 20) -> str:
        try:
            raw = self.docker.call(
                f"docker logs --tail {lines} {_short(instance.container)}",
                "logs",
                instance.container,
                stdout=True,
                stderr=True,
                tail=lines,
            )
        except Exception:
            return ""
        return bytes(raw).decode("utf-8", errors="replace").rstrip("\n")


class _Notes(Progress):
    """A build's phases and a pull's layers as apply's progress lines."""

    def __init__(self, say: Say) -> None:
        self.say = say

    def note(self, text: str) -> None:
        self.say(f"  {text}")

    def event(self, event: Event) -> None:
        status = str(event.get("status") or "")
        if status in PULL_STEPS and event.get("id"):
            self.say(f"  {event['id']}: {status.lower()}")
        elif status.startswith(("Digest:", "Status:")):
            self.say(f"  {status}")


def container_user() -> tuple[int, int]:
    """The uid and gid containers run as: apply's own, unless that is root (then the image's user)."""
    if os.getuid() == 0:
        return CONTAINER_USER, CONTAINER_USER  # a model from a pull request never runs as root
    return os.getuid(), os.getgid()


def _hand_to_container_user(folder: Path) -> None:
    """When root applies: the folder and what is directly in it (a local service's log, labels) go to
    the container user, so its service can write there. Links are changed, never followed."""
    if os.getuid() != 0:
        return
    uid, gid = container_user()
    for path in (folder, *folder.iterdir()):
        os.chown(path, uid, gid, follow_symlinks=False)


def engine_is_local() -> bool:
    """Whether the engine runs on this machine (a unix socket): bind mounts then reach this machine's folders."""
    return engine_address().startswith("unix://")


def remote_engine_note(specs: Iterable[ServiceSpec]) -> str | None:
    """For ``plan``: what a remote engine changes for the docker services among ``specs`` (None: nothing)."""
    if engine_is_local() or not any(spec.target == "docker" for spec in specs):
        return None
    return (
        f"the Docker engine at {engine_address()} is not on this machine: a container replaced on its port "
        "stops before the new one starts (the port does not answer in between), and containers log no answers"
    )


def _handover_arguments(launch: Launch) -> list[str]:
    """``--handover`` (where a successor takes the port) and ``--take-over`` (the predecessor's), as seen inside."""
    args = ["--handover", f"{HANDOVER_DIR}/{launch.instance_id}.sock"]
    previous = launch.take_over_from
    if previous is not None and INSTANCE_ID.fullmatch(previous) is not None:
        args += ["--take-over", f"{HANDOVER_DIR}/{previous}.sock"]
    return args


def _instance(row: dict[str, Any], env: str) -> Instance:
    labels = {key[len(LABEL_PREFIX) + 1 :]: value for key, value in (row.get("Labels") or {}).items()}
    spec = ServiceSpec.from_dict({**labels, "target": "docker"})
    state = str(row.get("State") or "")
    alive = state == "running"
    problem = None if alive else f"container {_short(row['Id'])} is {state} ({row.get('Status', '')})"
    return Instance(
        spec=spec,
        id=labels.get("instance", ""),
        env=env,
        role=labels.get("role") or "service",
        container=str(row["Id"]),
        started_at=labels.get("started-at", ""),
        health=Health(alive=alive, problem=problem),
    )


def _candidate_archive(files: VersionFiles) -> bytes:
    """A tar of the candidate's record and artifact, readable by the image's non-root user."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(CANDIDATE_DIR.rsplit("/", 1)[1])
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name, path in (("record.yaml", files.record), ("model.skops", files.artifact)):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{folder.name}/{name}")
            info.size, info.mode, info.uid, info.gid = len(data), 0o444, CONTAINER_USER, CONTAINER_USER
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _short(container: str | None) -> str:
    return (container or "?")[:12]
