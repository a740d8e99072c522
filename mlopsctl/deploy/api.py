"""plan, apply and down: the calls the CLI, the dashboard and CI make.

* :func:`plan_environment`: the environment file as committed at ``HEAD`` (what was reviewed and
  merged) against what runs on its targets. Read only; nothing is locked.
* :func:`apply_environment`: takes the lock of every target involved, plans again under it, and
  converges (:mod:`mlopsctl.deploy.apply`). Refuses before touching anything when a version named
  failed its gates, is archived or is not registered.

Deployments on the kubernetes target never run here: their plan is the diff of ``deploy/<env>/``
(:mod:`mlopsctl.deploy.rendered`), and apply renders and commits that folder (optionally
``kubectl apply -k`` it) through :mod:`mlopsctl.kubernetes.api`; the other deployments of the same
environment file go through the processes or containers as before.
* :func:`down_environment`: stops everything the environment runs, on every target, and clears
  its state (local work and tests; in production Git stays the way to change what runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mlopsctl.deploy.apply import DEFAULT_READY_TIMEOUT, Applier, ApplyFailed, ApplyResult
from mlopsctl.deploy.artifacts import missing_artifacts
from mlopsctl.deploy.desired import Desired, port_clashes, read_desired, refusals, resolve
from mlopsctl.deploy.health import probe_all
from mlopsctl.deploy.lock import deploy_locks
from mlopsctl.deploy.model import PREFLIGHT, Health, Instance
from mlopsctl.deploy.plan import ModelSync, Plan, diff, needs_start
from mlopsctl.deploy.processes import LocalRuntime, stop_child
from mlopsctl.deploy.rendered import RenderedPlan
from mlopsctl.deploy.runtime import Runtime
from mlopsctl.deploy.state import DeployState, check_state_folders, clear_state, read_state, write_endpoints
from mlopsctl.errors import MlopsError, UsageError
from mlopsctl.kubernetes.api import commit_rendering, manifest_plan
from mlopsctl.registry.records import read_record
from mlopsctl.spec.loader import Repo, load_settings
from mlopsctl.spec.models import Environment

Progress = Callable[[str], None]
STARTING_GRACE_SECONDS = DEFAULT_READY_TIMEOUT


@dataclass
class DownResult:
    env: str
    stopped: list[Instance] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "stopped": [instance.to_dict() for instance in self.stopped],
            "next_steps": self.next_steps,
        }


def light_repo(root: Path) -> Repo:
    """A repository with its settings only: plan and apply read the one spec they need, when they need it."""
    root = root.resolve()
    return Repo(root=root, settings=load_settings(root))


# --------------------------------------------------------------------------- plan


def plan_environment(repo: Repo, env: str, *, ref: str = "HEAD") -> Plan:
    """What ``apply`` would change for ``env`` (the environment file committed at ``ref``)."""
    desired = read_desired(repo, env, ref)
    state = read_state(repo, env)
    runtimes = _runtimes(repo, _targets(desired, state))
    plan = _plan(repo, desired, state, _observe(runtimes, env))
    return _with_manifests(repo, plan, desired, ref) if desired.rendered else plan


def plan_each(root: Path, envs: list[str]) -> dict[str, Plan | MlopsError]:
    """The plan of each of ``envs`` (the dashboard's sync verdicts); an environment whose plan fails gives its error."""
    repo = light_repo(root)
    found: dict[str, Plan | MlopsError] = {}
    for env in envs:
        try:
            found[env] = plan_environment(repo, env)
        except MlopsError as exc:
            found[env] = exc
    return found


def plan_for(repo: Repo, env: str, environment: Environment) -> Plan:
    """The plan if ``env`` held ``environment`` (a promotion not committed yet, for its pull request)."""
    desired = resolve(environment, repo.settings.default_target, env)
    state = read_state(repo, env)
    runtimes = _runtimes(repo, _targets(desired, state))
    plan = _plan(repo, desired, state, _observe(runtimes, env))
    if not desired.rendered:
        return plan
    text = yaml.safe_dump(environment.model_dump(mode="json", exclude_unset=True), sort_keys=False)
    return _with_manifests(repo, plan, desired, "HEAD", text)


def _with_manifests(repo: Repo, plan: Plan, desired: Desired, ref: str, text: str | None = None) -> RenderedPlan:
    """The plan with the kubernetes deployments' manifest diff (``deploy/<env>/`` at ``ref`` -> rendered)."""
    return RenderedPlan.of(plan, manifest_plan(repo.root, desired.env, ref, text), desired.rendered)


def markdown_plan(root: Path) -> Callable[[str, Environment], str]:
    """A pull-request body's plan section (``gitops.publish.PlanProvider``); never fails the promotion."""

    def provide(env: str, environment: Environment) -> str:
        try:
            return plan_for(light_repo(root), env, environment).to_markdown(heading=False)
        except MlopsError as exc:
            return f"The plan could not be computed here ({exc.title}: {exc.message}); CI posts it."

    return provide


def _plan(repo: Repo, desired: Desired, state: DeployState, observed: list[Instance]) -> Plan:
    changes, in_sync = diff(desired, observed)
    plan = Plan(env=desired.env, commit=desired.commit, changes=changes, in_sync=in_sync)
    plan.applied_commit = state.commit
    starting = needs_start(changes)
    plan.problems = port_clashes(desired.services) + refusals(repo.root, starting)
    plan.problems += missing_artifacts(repo, starting)
    plan.notes += _notes(desired, in_sync)
    return plan


def _notes(desired: Desired, in_sync: list[Instance]) -> list[str]:
    notes = []
    if desired.uncommitted:
        notes.append(f"environments/{desired.env}.yaml has uncommitted changes: plan and apply use the committed file")
    for instance in in_sync:
        if not instance.recorded:
            notes.append(
                f"{instance.spec.describe()} ({instance.where}) was started by an interrupted apply; apply records it"
            )
    if "docker" in desired.targets():
        from mlopsctl.deploy.containers import remote_engine_note  # the engine's client: only when docker is used

        remote = remote_engine_note(desired.services)
        if remote is not None:
            notes.append(remote)
    return notes


def _targets(desired: Desired, state: DeployState) -> set[str]:
    """Targets to look at: those Git names, those apply used before, and always local (cheap)."""
    return desired.targets() | state.targets() | {"local"}


def _runtimes(repo: Repo, targets: set[str]) -> dict[str, Runtime]:
    found: dict[str, Runtime] = {}
    if "local" in targets:
        found["local"] = LocalRuntime(repo)
    if "docker" in targets:
        from mlopsctl.deploy.containers import DockerRuntime  # the engine's client: only when docker is used

        found["docker"] = DockerRuntime(repo)
    return found


def _observe(runtimes: dict[str, Runtime], env: str) -> list[Instance]:
    """Every instance on these targets, with the health of each live service from ``/health/ready``.

    A service that does not listen yet but started less than STARTING_GRACE_SECONDS ago is starting
    (an apply killed right after starting it): apply waits for it instead of starting another.
    """
    instances = [instance for runtime in runtimes.values() for instance in runtime.observe(env)]
    checked = [i for i in instances if i.health.alive and i.role != PREFLIGHT]
    moment = datetime.now(UTC)
    for instance, health in zip(checked, probe_all([(i.spec, i.spec.port) for i in checked]), strict=True):
        age = instance.age_seconds(moment)
        young = age is not None and age < STARTING_GRACE_SECONDS
        if not health.listening and young:
            health = Health(alive=True, starting=True, problem="starting: not listening yet")
        instance.health = health
    return instances


# --------------------------------------------------------------------------- apply


def apply_environment(
    repo: Repo,
    env: str,
    *,
    progress: Progress | None = None,
    ref: str = "HEAD",
    timeout: float = DEFAULT_READY_TIMEOUT,
    wait: bool = False,
    kubectl: bool = False,
) -> ApplyResult:
    """Converge what runs for ``env`` to what Git says; raises :class:`ApplyFailed` after a rollback.

    Kubernetes deployments are rendered into ``deploy/<env>/`` and committed (``kubectl``: and
    applied with ``kubectl apply -k``); nothing is started for them on this machine.
    """
    say = progress or (lambda _line: None)
    desired = read_desired(repo, env, ref)
    rendered = _apply_rendered(repo, desired, ref, kubectl)
    check_state_folders(repo, env)
    state = read_state(repo, env)
    if rendered is not None and not desired.services and not state.targets():
        return rendered
    targets = _targets(desired, state)
    with deploy_locks(repo, env, targets, wait=wait):
        runtimes = _runtimes(repo, targets)
        plan = _plan(repo, desired, read_state(repo, env), observed := _observe(runtimes, env))
        _refuse(plan)
        say(plan.summary())
        result = Applier(repo, plan, observed, runtimes, say, timeout).run()
    result.next_steps = next_steps(repo, result)
    if rendered is not None:
        result.actions[:0] = rendered.actions
        result.next_steps[:0] = rendered.next_steps
    if not result.ok:
        raise ApplyFailed(result)
    return result


def _apply_rendered(repo: Repo, desired: Desired, ref: str, kubectl: bool) -> ApplyResult | None:
    """Render and commit ``deploy/<env>/`` for the kubernetes deployments (None when there are none)."""
    if not desired.rendered:
        if kubectl:
            raise UsageError(
                f"--kubectl applies rendered manifests, and environments/{desired.env}.yaml runs nothing on the "
                "kubernetes target",
                hint="leave out --kubectl",
            )
        return None
    done = commit_rendering(repo.root, desired.env, ref=ref, use_kubectl=kubectl)
    if done.commit is None:
        action = f"{done.folder}/ already matches environments/{desired.env}.yaml: nothing to commit"
    else:
        action = f"rendered {done.folder}/ ({done.changed_files} file(s) changed), committed {done.commit[:12]}"
    actions = [action]
    if done.kubectl_output is not None:
        actions += [f"kubectl: {line}" for line in done.kubectl_output.splitlines()]
    steps = [
        f"{desired.env}: {len(desired.rendered)} deployment(s) on the kubernetes target; nothing was started here",
        f"Argo CD or Flux syncs {done.folder}/ once it is pushed: git push",
    ]
    changes = 1 if done.commit is not None else 0
    return ApplyResult(
        env=desired.env, commit=desired.commit or "", ok=True, actions=actions, next_steps=steps, changes=changes
    )


def _refuse(plan: Plan) -> None:
    if plan.problems:
        listing = "\n".join(f"  {problem}" for problem in plan.problems)
        raise MlopsError(
            f"apply of {plan.env} refused, nothing was touched:\n{listing}",
            title="Refused",
            hint=f"fix environments/{plan.env}.yaml ('mlopsctl validate' shows where), "
            "or promote a version that passed its gates",
        )


def next_steps(repo: Repo, result: ApplyResult) -> list[str]:
    """The summary first (the dashboard shows it), then how to try each service."""
    from mlopsctl.serve.local import curl_example  # imports numpy: only once something was applied

    verdict = "applied" if result.ok else "FAILED, rolled back where it could"
    changed = f"{result.changes} change(s)" if result.changes else "nothing to change"
    steps = [f"{result.env} {verdict}: {changed}, {len(result.services)} service(s) running"]
    for instance in result.services:
        spec = instance.spec
        try:
            record = read_record(repo.root, spec.model, spec.version)
        except MlopsError:
            continue
        steps.append(f"Try {spec.model}: {curl_example(spec.url, record)}")
    steps.append(f"Health: mlopsctl status --env {result.env}")
    return steps


# --------------------------------------------------------------------------- down


def down_environment(repo: Repo, env: str, *, wait: bool = False) -> DownResult:
    """Stop everything ``env`` runs on every target it used, and clear its state."""
    check_state_folders(repo, env)
    state = read_state(repo, env)
    targets = state.targets() | {"local"} | _desired_targets(repo, env)
    result = DownResult(env=env)
    with deploy_locks(repo, env, targets, wait=wait):
        runtimes = _runtimes(repo, targets)
        for runtime in runtimes.values():
            for instance in runtime.observe(env):
                if instance.health.alive or instance.container is not None:
                    runtime.stop(instance)
                    result.stopped.append(instance)
        clear_state(repo, env)
        write_endpoints(repo, env, [], None)
    result.next_steps = [
        f"{env}: stopped {len(result.stopped)} instance(s); to start again: mlopsctl apply --env {env}"
    ]
    return result


def stop_started_process(pid: int, what: str) -> bool:
    """Stop a background process this session started, such as the demo's traffic replay (SIGTERM, then
    SIGKILL after a grace period); True when it was running and is gone now, False when it had exited."""
    return stop_child(pid, f"stop process {pid} ({what})")


def _desired_targets(repo: Repo, env: str) -> set[str]:
    try:
        return read_desired(repo, env).targets()
    except MlopsError:
        return set()


__all__ = [
    "DEFAULT_READY_TIMEOUT",
    "ApplyFailed",
    "ApplyResult",
    "DownResult",
    "ModelSync",
    "Plan",
    "apply_environment",
    "down_environment",
    "light_repo",
    "plan_each",
    "plan_environment",
    "stop_started_process",
]
