"""Carrying out a plan: start, wait until ready, switch, stop what is no longer wanted, record.

One service owns one port, and a running service cannot change its versions, strategy or weight,
so every update is a new instance. When the old instance serves on the port the new one needs:

* **local target, and docker with a local engine and an image that can: a takeover, no gap.** The
  new process starts with the old one's handover socket (:mod:`mlopsctl.deploy.handover`); it loads
  its versions (artifacts checked against their digests) while the old one serves, then takes the
  old one's listening socket itself, so both share one accept queue and not one connection is
  refused; the old one then stops accepting, drains (requests in flight finish, keep-alive
  connections are closed with ``Connection: close``) and exits. Apply waits until the new instance
  holds the port and answers ``/health/ready`` as the new spec, then stops the old one (already
  draining) and records. A version that never becomes ready exits before it touches the port: the
  old one serves on, nothing changed. Why a handed-over socket rather than ``SO_REUSEPORT``:
  :mod:`mlopsctl.serve.handover`. A container is *released* first (restart policy ``no``, so the
  engine does not start it again once it drained and exited) and *kept* again (``unless-stopped``)
  when the takeover fails.
* **otherwise (a remote Docker engine, an image built before handovers, an instance started before
  them): correctness first, and apply says why.** The new spec is proven on a scratch port (a
  *preflight* instance: the versions load, ``/health/ready`` answers) while the old one keeps
  serving; then the old instance is stopped gracefully, the new one starts on the port and must
  become ready again, else the old spec is started again (rollback). Between that stop and ready,
  the port does not answer.

When the port changes, the new instance starts on its port first and the old one stops after, with
no gap. Every start and stop rewrites the deploy state at once, and every instance carries its
marker or labels from birth, so ``kill -9`` at any point leaves nothing the next apply cannot find.
A takeover whose apply was killed goes on alone (the old instance still drains and exits); the
next apply adopts the new instance once it holds the port, or stops it while it is still loading
and takes over again.

For tests, ``MLOPS_APPLY_PAUSE_AT=<step>`` makes apply print ``apply paused at <step>`` on stderr
and wait at that step until SIGUSR1, so it can be killed there for real, or resumed after the test
changed something underneath it. The steps: ``locked``, ``spawned``, ``preflight-ready``,
``old-stopped``, ``ready``, ``finishing``; a takeover passes ``spawned``, ``handing-over`` (the new
instance recorded, loading or taking the port), then ``old-stopped`` and ``ready`` once the new
instance serves and the old one is gone.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from mlopsctl.deploy.handover import wait_holding
from mlopsctl.deploy.health import probe, wait_ready
from mlopsctl.deploy.model import PREFLIGHT, SERVICE, Change, Instance, ServiceSpec
from mlopsctl.deploy.plan import Plan
from mlopsctl.deploy.runtime import HandoverRuntime, Launch, Runtime, VersionFiles, hands_over
from mlopsctl.deploy.state import DeployState, now, write_endpoints, write_state
from mlopsctl.errors import MlopsError
from mlopsctl.registry.artifacts import ArtifactStore
from mlopsctl.registry.records import record_path
from mlopsctl.registry.store import artifact_store_for, parse_record_file
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import ModelSpec, ServingSpec
from mlopsctl.spec.yamlpos import load_yaml

PAUSE_VARIABLE = "MLOPS_APPLY_PAUSE_AT"
PAUSE_SECONDS = 600.0
DEFAULT_READY_TIMEOUT = 120.0
LOG_LINES = 15
Say = Callable[[str], None]


class ApplyFailed(MlopsError):
    """Something did not become ready; what ran before runs again. Carries the full result."""

    title = "Apply failed"

    def __init__(self, result: ApplyResult) -> None:
        first = result.failures[0].splitlines()[0] if result.failures else "see the lines above"
        more = f" (and {len(result.failures) - 1} more)" if len(result.failures) > 1 else ""
        super().__init__(
            f"{result.env}: {first}{more}",
            hint=f"fix the version or the environment file; what runs now: mlopsctl plan --env {result.env}",
        )
        self.result = result


@dataclass
class ApplyResult:
    """What apply did, what runs now, and what to do next."""

    env: str
    commit: str
    ok: bool
    actions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    services: list[Instance] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    changes: int = 0
    """How many changes the plan had (0: it was already in sync)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "commit": self.commit,
            "ok": self.ok,
            "changes": self.changes,
            "actions": self.actions,
            "failures": self.failures,
            "services": [instance.to_dict() for instance in self.services],
            "next_steps": self.next_steps,
        }


def checkpoint(step: str) -> None:
    """Pause here when MLOPS_APPLY_PAUSE_AT names this step (tests); otherwise nothing.

    The pause lasts until the process gets SIGUSR1 (then apply goes on) or is killed; only the
    first time the step is reached pauses.
    """
    if os.environ.get(PAUSE_VARIABLE) != step or step in _paused:
        return
    _paused.add(step)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    sys.stderr.write(f"apply paused at {step} (pid {os.getpid()})\n")
    sys.stderr.flush()
    signal.sigtimedwait({signal.SIGUSR1}, PAUSE_SECONDS)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})


_paused: set[str] = set()


class Applier:
    """One apply of one environment, under its locks."""

    def __init__(
        self,
        repo: Repo,
        plan: Plan,
        observed: list[Instance],
        runtimes: dict[str, Runtime],
        say: Say,
        timeout: float = DEFAULT_READY_TIMEOUT,
    ) -> None:
        self.repo = repo
        self.env = plan.env
        self.plan = plan
        self.runtimes = runtimes
        self.say = say
        self.timeout = timeout
        self.live = [i for i in observed if i.health.alive or i.container is not None]
        self.result = ApplyResult(env=plan.env, commit=plan.commit or "", ok=True, changes=len(plan.changes))
        self._files: dict[tuple[str, int], VersionFiles] = {}
        self._refusals_said: set[str] = set()

    # ------------------------------------------------------------------ the whole run

    def run(self) -> ApplyResult:
        checkpoint("locked")
        wanted = {spec.model for spec in self._desired_specs()}
        converging = [c for c in self.plan.changes if c.after is not None]
        ready = self._prepare(converging)
        self._save()
        for change in [c for c in self.plan.changes if c.after is None and c.model in wanted]:
            self._let_successors_finish(change)
            self._stop_all(change.instances, change.reasons[0] if change.reasons else "left over", record=True)
        for change in ready:
            self._converge(change)
        for instance in self.plan.in_sync:
            self._settle(instance)
        for change in [c for c in self.plan.changes if c.after is None and c.model not in wanted]:
            self._stop_all(change.instances, change.reasons[0] if change.reasons else "not wanted", record=True)
        checkpoint("finishing")
        self._finish()
        return self.result

    def _desired_specs(self) -> list[ServiceSpec]:
        specs = [change.after for change in self.plan.changes if change.after is not None]
        return specs + [instance.spec for instance in self.plan.in_sync]

    def _prepare(self, changes: list[Change]) -> list[Change]:
        """Files and images for every change that starts something; a change that lacks them fails alone."""
        ready: list[Change] = []
        for change in changes:
            assert change.after is not None
            problem = self._check_files(change.after)
            if problem is None:
                problem = self._build(change.after)
            if problem is None:
                ready.append(change)
            else:
                self._fail(change.after, problem, self._serving(change), what="cannot start")
        return ready

    def _build(self, spec: ServiceSpec) -> str | None:
        try:
            self.runtimes[spec.target].prepare([spec], self._files, self.say)
        except MlopsError as exc:
            return f"its image is not ready: {exc.message}"
        return None

    # ------------------------------------------------------------------ one change

    def _converge(self, change: Change) -> None:
        spec = change.after
        assert spec is not None
        holder = self._port_holder(change, spec)
        if holder is not None:
            self._take_over(change, spec, holder)
            return
        old = self._serving(change)
        if old is not None and old.spec.port == spec.port:
            self._swap(change, spec, old)
        elif old is not None:
            self._move(change, spec, old)
        else:
            self._stop_all(change.instances, "it is replaced")
            self._start_fresh(change, spec)

    def _port_holder(self, change: Change, spec: ServiceSpec) -> Instance | None:
        """On a target that hands ports over: the instance of this change that accepts on ``spec.port``.

        An apply killed mid-takeover leaves the new instance going on alone: it may hold the port
        already (then it is the one to take over from, or to keep), or still be loading: then it is
        left to finish (hold the port, or exit), because stopping it could catch it just after the
        old one started draining, leaving nobody to accept. None: no instance waits for a successor
        there (nothing runs, the port changes, or it was started before handovers existed).
        """
        runtime = self.runtimes[spec.target]
        if not hands_over(runtime):
            return None
        handing = cast(HandoverRuntime, runtime)
        mine = [i for i in change.instances if i in self.live and i.role == SERVICE and i.spec.target == spec.target]
        self._await_successors(handing, [i for i in mine if i.spec.port == spec.port])
        holding = [i for i in mine if i.spec.port == spec.port and handing.holds_port(i)]
        if not holding or _handover_refusal(runtime, spec) is not None:
            return None  # the swap says why it stops first
        holder = max(holding, key=lambda i: i.start_ticks or 0)
        for instance in mine:
            if instance not in holding:
                self._stop(instance, f"it does not hold port {spec.port}")
        return holder

    def _let_successors_finish(self, change: Change) -> None:
        """Before a duplicate goes: a successor in sync may still be taking the port from it (an
        interrupted takeover; it looked ready because the old one answered for it). Stopping the old
        one first would leave the port to nobody until the successor binds it alone. The instance in
        sync that holds the port then is kept (docker: its restart policy back, should an interrupted
        takeover from it have released it and failed)."""
        for instance in [i for i in change.instances if i in self.live and i.role == SERVICE]:
            runtime = self.runtimes[instance.spec.target]
            if not hands_over(runtime):
                continue
            handing = cast(HandoverRuntime, runtime)
            same_port = [
                i
                for i in self.plan.in_sync
                if i in self.live and (i.spec.port, i.spec.target) == (instance.spec.port, instance.spec.target)
            ]
            self._await_successors(handing, [instance, *same_port])
            for holder in [i for i in same_port if handing.holds_port(i)]:
                _call_if_present(runtime, "keep", holder)

    def _await_successors(self, runtime: HandoverRuntime, on_port: list[Instance]) -> None:
        """While one instance holds the port, the others still alive there are successors an interrupted
        apply started (or predecessors draining): wait until each holds the port or exits (bounded)."""
        holding = [i for i in on_port if runtime.holds_port(i)]
        if not holding:
            return
        for instance in [i for i in on_port if i not in holding and runtime.gone(i) is None]:
            self.say(f"waiting for {instance.spec.describe()} ({instance.where}) to take the port over or exit")
            gone = functools.partial(runtime.gone, instance)
            wait_holding(functools.partial(runtime.holds_port, instance), gone, self.timeout)

    def _take_over(self, change: Change, spec: ServiceSpec, holder: Instance) -> None:
        """Same port, no gap: the new instance loads, takes the listening socket from the holder, which drains."""
        if holder.spec == spec and self._adopt(change, holder):
            return
        runtime = cast(HandoverRuntime, self.runtimes[spec.target])
        _call_if_present(runtime, "release", holder)
        new, problem = self._launch(spec, take_over_from=holder)
        if problem is not None or new is None:
            self._stop(new, "it did not become ready")
            _call_if_present(runtime, "keep", holder)
            self._fail(spec, problem or "", holder)
            return
        self._done(change, new)  # stops the old instance, which was already draining
        checkpoint("old-stopped")
        checkpoint("ready")

    def _adopt(self, change: Change, holder: Instance) -> bool:
        """Keep an instance an interrupted apply started, once it is ready; False when it never is."""
        health = probe(holder.spec)
        if not (health.ready or health.starting):
            return False  # not this spec's answer, or failed: a fresh instance takes over from it
        if not health.ready:
            runtime = self.runtimes[holder.spec.target]
            self.say(f"waiting for {holder.spec.describe()} ({holder.where}) to finish loading")
            if wait_ready(holder.spec, holder.spec.port, self.timeout, functools.partial(runtime.gone, holder)):
                return False
        others = [instance for instance in change.instances if instance is not holder]
        self._stop_all(others, f"replaced by {holder.spec.label()}")
        self.result.actions.append(f"kept {holder.spec.describe()} (an interrupted apply started it)")
        return True

    def _swap(self, change: Change, spec: ServiceSpec, old: Instance) -> None:
        """Same port: prove the new spec on a scratch port, then stop the old, start the new, roll back on failure."""
        refusal = _handover_refusal(self.runtimes[spec.target], spec, old)
        if refusal is not None:
            self._refusals_said.add(refusal)
            self.say(f"replacing {old.spec.describe()} by stop-then-start (a gap on the port): {refusal}")
        problem = self._preflight(spec)
        if problem is not None:
            self._fail(spec, problem, old)
            return
        checkpoint("preflight-ready")
        self._stop(old, f"replaced by {spec.label()}")
        checkpoint("old-stopped")
        new, problem = self._launch(spec)
        if problem is None and new is not None:
            self._done(change, new)
            return
        self._stop(new, "it did not become ready")
        self._fail(spec, problem or "", None, rollback=old.spec)

    def _move(self, change: Change, spec: ServiceSpec, old: Instance) -> None:
        """Another port: start the new one there first; the old one keeps serving until it is ready."""
        new, problem = self._launch(spec)
        if problem is not None or new is None:
            self._stop(new, "it did not become ready")
            self._fail(spec, problem or "", old)
            return
        self._done(change, new)

    def _start_fresh(self, change: Change, spec: ServiceSpec) -> None:
        new, problem = self._launch(spec)
        if problem is not None or new is None:
            self._stop(new, "it did not become ready")
            self._fail(spec, problem or "", None)
            return
        self._done(change, new)

    def _done(self, change: Change, new: Instance) -> None:
        others = [instance for instance in change.instances if instance is not new]
        self._stop_all(others, f"replaced by {new.spec.label()}")
        verb = {"start": "started", "update": "updated", "restart": "restarted"}.get(change.action, change.action)
        before = f" (was {change.before.label()})" if change.before and change.action == "update" else ""
        self.result.actions.append(f"{verb} {new.spec.describe()}{before}")

    def _settle(self, instance: Instance) -> None:
        """An instance in sync that was still loading (started by an interrupted apply) must become ready too."""
        if instance.health.ready:
            return
        runtime = self.runtimes[instance.spec.target]
        self.say(f"waiting for {instance.spec.describe()} ({instance.where}) to finish loading")
        problem = wait_ready(instance.spec, instance.spec.port, self.timeout, lambda: runtime.gone(instance))
        if problem is not None:
            self._stop(instance, "it did not become ready")
            self._fail(instance.spec, self._with_log(problem, runtime, instance), None)

    def _serving(self, change: Change) -> Instance | None:
        """The instance of this change that answers traffic now (alive and healthy), if any."""
        serving = [i for i in change.instances if i.role == SERVICE and i.health.ok and i in self.live]
        return serving[0] if serving else None

    # ------------------------------------------------------------------ starting

    def _preflight(self, spec: ServiceSpec) -> str | None:
        """Start ``spec`` on a scratch port until ready, then stop it; why it failed, or None."""
        problem: str | None = None
        for _attempt in range(2):
            trial, problem = self._launch(spec.on_port(_free_port()), role=PREFLIGHT)
            self._stop(trial, "preflight done", quiet=True)
            if problem is None or "address already in use" not in problem.lower():
                break
        return problem

    def _launch(
        self, spec: ServiceSpec, role: str = SERVICE, take_over_from: Instance | None = None
    ) -> tuple[Instance | None, str | None]:
        """Start one instance and wait until it is ready: (instance, None), or (instance or None, why not).

        With ``take_over_from``, the new instance takes that one's listening socket once it is
        loaded, so the port is not freed first and readiness also waits for the takeover.
        """
        if role == SERVICE and take_over_from is None:
            self._free(spec.port)
        runtime = self.runtimes[spec.target]
        launch = self._launch_spec(spec, role, take_over_from)
        self.say(_starting(spec, role, take_over_from))
        if role == SERVICE and launch.prediction_log is not None:
            self._say_unlogged(runtime, spec)
        started = time.monotonic()
        try:
            instance = runtime.start(launch)
        except MlopsError as exc:
            return None, f"it could not be started: {exc.message}"
        self.live.append(instance)
        checkpoint("spawned")
        self._save()
        problem = self._wait_ready(spec, runtime, instance, take_over_from is not None, started)
        if problem is not None:
            return instance, self._with_log(problem, runtime, instance)
        self.say(f"  ready in {time.monotonic() - started:.1f} s ({instance.where})")
        if role == SERVICE and take_over_from is None:
            checkpoint("ready")
        return instance, None

    def _wait_ready(
        self, spec: ServiceSpec, runtime: Runtime, instance: Instance, takes_over: bool, started: float
    ) -> str | None:
        """Ready on its port; for a takeover, first holding the port (until then the old instance answers)."""
        gone = functools.partial(runtime.gone, instance)
        if takes_over:
            checkpoint("handing-over")
            holds = functools.partial(cast(HandoverRuntime, runtime).holds_port, instance)
            problem = wait_holding(holds, gone, self.timeout)
            if problem is not None:
                return problem
        remaining = max(1.0, self.timeout - (time.monotonic() - started))
        return wait_ready(spec, spec.port, remaining, gone)

    def _launch_spec(self, spec: ServiceSpec, role: str, take_over_from: Instance | None = None) -> Launch:
        limits = serving_limits(self.repo, spec.model)
        candidate = self._files[(spec.model, spec.candidate)] if spec.candidate is not None else None
        return Launch(
            spec=spec,
            env=self.env,
            role=role,
            instance_id=secrets.token_hex(4),
            stable=self._files[(spec.model, spec.version)],
            candidate=candidate,
            max_body_bytes=limits.max_body_bytes,
            max_batch_rows=limits.max_batch_rows,
            unknown_fields=limits.unknown_fields,
            take_over_from=take_over_from.id if take_over_from is not None else None,
            shadow_tolerance=self._tolerance(spec),
            **self._logging(spec),
        )

    def _tolerance(self, spec: ServiceSpec) -> float:
        """monitoring.shadow.tolerance for a service that holds a candidate (it compares the two)."""
        if spec.candidate is None:
            return 0.0
        from mlopsctl.serve.local import shadow_tolerance  # the spec read as serving reads it

        return shadow_tolerance(self.repo, spec.model)

    def _logging(self, spec: ServiceSpec) -> dict[str, Any]:
        """The prediction log (in this machine's state folder) and live metric arguments, for local
        processes and containers; the docker target drops them for an image built before the options
        existed (it would refuse them) and for a remote engine (the folder is not there)."""
        if spec.target not in ("local", "docker"):
            return {}
        from mlopsctl.serve.local import deployment_log_arguments  # numpy and the serving stack: not for plan

        return deployment_log_arguments(self.repo, self.env, spec.model).launch_fields()

    def _say_unlogged(self, runtime: Runtime, spec: ServiceSpec) -> None:
        """The target will not keep this service's prediction log (docker: remote engine, older image): once."""
        refusal = _handover_refusal(runtime, spec)
        if refusal is not None and refusal not in self._refusals_said:
            self._refusals_said.add(refusal)
            self.say(f"  its answers are not logged (serving.prediction_log): {refusal}")

    def _free(self, port: int) -> None:
        """Stop any of this environment's instances still holding ``port`` (a service that moves or goes)."""
        holders = [i for i in self.live if i.role == SERVICE and i.spec.port == port]
        self._stop_all(holders, f"it holds port {port}", record=True)

    def _check_files(self, spec: ServiceSpec) -> str | None:
        for version in spec.versions():
            problem = self._find_files(spec.model, version)
            if problem is not None:
                return problem
        return None

    @functools.cached_property
    def artifact_store(self) -> ArtifactStore:
        """One store for the whole apply: a remote one connects (and is probed) once, not per version."""
        return artifact_store_for(self.repo)

    def _find_files(self, model: str, version: int) -> str | None:
        if (model, version) in self._files:
            return None
        path = record_path(self.repo.root, model, version)
        try:
            artifact_ref = parse_record_file(path)["artifact"]
            sha256, size = str(artifact_ref["sha256"]), int(artifact_ref["size"])
        except (OSError, KeyError, TypeError, ValueError, MlopsError) as exc:
            return f"the record {path} cannot be read: {exc}"
        store = self.artifact_store
        artifact = store.local_file(sha256, size)  # a remote store fetches it into the cache, digest checked
        if artifact is None:
            return (
                f"the artifact of {model}@{version} (sha256:{sha256[:12]}) is not in the artifact store "
                f"{store.describe()}; point MLOPS_ARTIFACT_STORE (or artifact_store in mlops.yaml) at the team's "
                f"store, or train it here: mlopsctl reproduce {model}@{version}"
            )
        refused = _refused_classes(artifact, sha256)
        if refused is not None:
            return f"the artifact of {model}@{version} (sha256:{sha256[:12]}) {refused}"
        self._files[(model, version)] = VersionFiles(path, artifact, sha256)
        return None

    # ------------------------------------------------------------------ stopping and failing

    def _stop_all(self, instances: tuple[Instance, ...] | list[Instance], why: str, record: bool = False) -> None:
        for instance in list(instances):
            if instance in self.live:
                self._stop(instance, why, record=record)

    def _stop(self, instance: Instance | None, why: str, quiet: bool = False, record: bool = False) -> None:
        """Stop one instance; ``record`` lists it among the result's actions (a stop the plan asked for)."""
        if instance is None:
            return
        if not quiet:
            self.say(f"stopping {instance.spec.describe()} ({instance.where}): {why}")
        self.runtimes[instance.spec.target].stop(instance)
        if instance in self.live:
            self.live.remove(instance)
        self._save()
        if record:
            self.result.actions.append(f"stopped {instance.spec.describe()} ({why})")

    def _fail(
        self,
        spec: ServiceSpec,
        problem: str,
        still: Instance | None,
        rollback: ServiceSpec | None = None,
        what: str = "never became ready",
    ) -> None:
        message = f"{spec.describe()} {what}: {problem}"
        if still is not None:
            message += f"\n{still.spec.describe()} still serves: nothing was switched"
        if rollback is not None:
            message += "\n" + self._roll_back(rollback)
        self.result.ok = False
        self.result.failures.append(message)
        self.say(message)

    def _roll_back(self, spec: ServiceSpec) -> str:
        if self._check_files(spec) is not None:
            return f"rollback impossible: the files of {spec.describe()} are gone"
        self.say(f"rolling back to {spec.describe()}")
        instance, problem = self._launch(spec)
        if problem is None and instance is not None:
            self.result.actions.append(f"rolled back to {spec.describe()}")
            return f"rolled back: {spec.describe()} serves again"
        self._stop(instance, "the rollback did not become ready")
        return f"the rollback to {spec.describe()} failed too: {problem}"

    def _with_log(self, problem: str, runtime: Runtime, instance: Instance) -> str:
        lines = runtime.log_tail(instance, LOG_LINES)
        where = f" ({instance.log})" if instance.log else ""
        return f"{problem}\nlast lines of its log{where}:\n{_indent(lines)}" if lines else problem

    # ------------------------------------------------------------------ recording

    def _save(self) -> None:
        write_state(self.repo, DeployState(self.env, list(self.live), self._commit(), now()))

    def _commit(self) -> str | None:
        return self.plan.commit if self.result.ok else self.plan.applied_commit

    def _finish(self) -> None:
        self._save()
        services = [instance for instance in self.live if instance.role == SERVICE]
        write_endpoints(self.repo, self.env, services, self._commit())
        self.result.services = services


def serving_limits(repo: Repo, model: str) -> ServingSpec:
    """The model's serving limits from its spec (loaded alone when the repo was not fully scanned)."""
    spec = repo.models.get(model) or repo.partial_models.get(model)
    if spec is not None and hasattr(spec, "serving"):
        return spec.serving
    doc = load_yaml(repo.model_file(model))
    try:
        return ModelSpec.model_validate(doc.data).serving
    except ValueError:
        return ServingSpec()


def _handover_refusal(runtime: Runtime, spec: ServiceSpec, old: Instance | None = None) -> str | None:
    """Why ``runtime`` cannot hand ``old``'s port to ``spec`` (a target that never does: None, said nowhere)."""
    refusal = getattr(runtime, "handover_refusal", None)
    return None if refusal is None else cast(str | None, refusal(spec, old))


def _call_if_present(runtime: Runtime, name: str, instance: Instance) -> None:
    """A target's optional step around a takeover (docker: the old container's restart policy)."""
    step = getattr(runtime, name, None)
    if step is not None:
        step(instance)


def _starting(spec: ServiceSpec, role: str, take_over_from: Instance | None) -> str:
    """``starting churn v2 on local :8100, taking the port over from process 4242``."""
    if role == PREFLIGHT:
        return f"starting {spec.model} {spec.label()} (preflight on scratch port :{spec.port})"
    if take_over_from is not None:
        return f"starting {spec.describe()}, taking the port over from {take_over_from.where}"
    return f"starting {spec.describe()}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _refused_classes(artifact: Path, sha256: str) -> str | None:
    """Why the artifact must not be loaded, from its schema alone (nothing is built), or None."""
    from mlopsctl.registry.artifacts import read_schema_file, refused_types

    try:
        refused = refused_types(read_schema_file(artifact, sha256))
    except MlopsError as exc:
        return f"cannot be read: {exc.message}"
    if not refused:
        return None
    listing = "; ".join(f"{name} ({reason})" for name, reason in sorted(refused.items()))
    return f"contains types mlopsctl will not load: {listing}"
