"""Which of the spec's retraining triggers fire for one model in one environment, and why.

The baseline is the version the environment runs (its committed desired state). Triggers:
``drift`` (``retraining.on_drift``: any feature's drift is CRIT in ``status``), ``performance``
(``retraining.on_performance``: the ``performance`` check is CRIT), ``new_data`` (the file at
``data.source`` holds other bytes than the running version was trained on) and
``labelled_traffic`` (labels arrived for answers the running version gave). ``retraining.schedule``
is reported, never judged: CI's scheduler runs ``retrain`` at those times.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlopsctl.data.api import check_model_data
from mlopsctl.errors import UsageError
from mlopsctl.monitor.api import DeploymentHealth, State, deployment_drift_state, status
from mlopsctl.registry.api import read_record
from mlopsctl.retrain.fresh import labelled_traffic
from mlopsctl.spec.api import Repo
from mlopsctl.spec.models import ModelSpec

PRODUCTION = "production"


@dataclass(frozen=True)
class Trigger:
    """One trigger: whether the spec enables it, whether it fired, and the evidence."""

    name: str
    enabled: bool
    fired: bool
    reason: str


@dataclass(frozen=True)
class Baseline:
    """The environment whose running version retraining is judged against, and why that one."""

    env: str
    version: int
    why: str


@dataclass
class RetrainCheck:
    """What ``retrain --check`` found."""

    model: str
    baseline: Baseline
    promote_to: str
    schedule: str | None
    triggers: list[Trigger] = field(default_factory=list)

    @property
    def fired(self) -> list[Trigger]:
        return [trigger for trigger in self.triggers if trigger.fired]

    @property
    def needed(self) -> bool:
        return bool(self.fired)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "needed": self.needed,
            "env": self.baseline.env,
            "version": self.baseline.version,
            "env_reason": self.baseline.why,
            "promote_to": self.promote_to,
            "schedule": self.schedule,
            "fired": [trigger.name for trigger in self.fired],
            "triggers": [asdict(trigger) for trigger in self.triggers],
        }


def choose_baseline(repo: Repo, spec: ModelSpec, env: str | None) -> Baseline:
    """``env`` when given, else production when it runs the model, else ``retraining.promote_to``."""
    if env is not None:
        return Baseline(env, _running_version(repo, spec.name, env), "--env")
    promote_to = spec.retraining.promote_to
    choices = (
        (PRODUCTION, "production runs it"),
        (promote_to, f"retraining.promote_to; production does not run {spec.name}"),
    )
    for name, why in choices:
        deployment = repo.environments.get(name)
        if deployment is not None and spec.name in deployment.deployments:
            return Baseline(name, deployment.deployments[spec.name].version, why)
    raise UsageError(
        f"neither production nor {promote_to} (retraining.promote_to) runs {spec.name}: nothing to retrain against",
        hint="promote a version first, or name the environment with --env",
    )


def _running_version(repo: Repo, model: str, env: str) -> int:
    environment = repo.environments.get(env)
    if environment is None:
        known = ", ".join(sorted(repo.environments)) or "none"
        raise UsageError(f"unknown environment {env!r}", hint=f"environments: {known}")
    deployment = environment.deployments.get(model)
    if deployment is None:
        raise UsageError(f"environment {env} does not run {model}", hint=f"see environments/{env}.yaml")
    return deployment.version


def check_triggers(repo: Repo, spec: ModelSpec, env: str | None) -> RetrainCheck:
    """Judge every trigger the spec enables against the environment's running version."""
    baseline = choose_baseline(repo, spec, env)
    retraining = spec.retraining
    check = RetrainCheck(spec.name, baseline, retraining.promote_to, retraining.schedule)
    if retraining.on_drift or retraining.on_performance:
        deployment = _health(repo, spec.name, baseline)
        check.triggers.append(_drift(deployment, retraining.on_drift))
        check.triggers.append(_performance(deployment, retraining.on_performance))
    else:
        check.triggers.append(Trigger("drift", False, False, "retraining.on_drift is false"))
        check.triggers.append(Trigger("performance", False, False, "retraining.on_performance is false"))
    check.triggers.append(_new_data(repo, spec, baseline))
    check.triggers.append(_labelled(repo, spec.name, baseline))
    return check


def _health(repo: Repo, model: str, baseline: Baseline) -> DeploymentHealth | None:
    """The stable deployment's health (Unreachable propagates: exit 3)."""
    report = status(repo.root, baseline.env)
    found = [d for d in report.deployments if d.model == model and d.version == baseline.version]
    stable = [d for d in found if d.role == "stable"]
    return next(iter(stable or found), None)


def _drift(deployment: DeploymentHealth | None, enabled: bool) -> Trigger:
    if not enabled:
        return Trigger("drift", False, False, "retraining.on_drift is false")
    if deployment is None:
        return Trigger("drift", True, False, "no health for the running version")
    crit = [f.feature for f in deployment.features if f.state is State.CRIT]
    if crit:
        return Trigger("drift", True, True, f"drift CRIT on {', '.join(crit)}")
    return Trigger("drift", True, False, f"drift {deployment_drift_state(deployment)}")


def _performance(deployment: DeploymentHealth | None, enabled: bool) -> Trigger:
    if not enabled:
        return Trigger("performance", False, False, "retraining.on_performance is false")
    if deployment is None:
        return Trigger("performance", True, False, "no health for the running version (is it serving?)")
    checks = {c.name: c for c in deployment.checks}
    found = checks.get("performance")
    up = checks.get("up")
    if up is not None and up.state is not State.OK:  # not "is the log on?": the service is not there
        return Trigger("performance", True, False, f"no live performance: {up.reason}")
    if found is None:
        return Trigger("performance", True, False, "no live performance check (monitoring.performance)")
    return Trigger("performance", True, found.state is State.CRIT, f"{found.state}: {found.reason}")


def _new_data(repo: Repo, spec: ModelSpec, baseline: Baseline) -> Trigger:
    record = read_record(repo.root, spec.name, baseline.version)
    digest = check_model_data(repo.root, spec.name).dataset.fingerprint.sha256  # the loader's trust rules apply
    if digest == record.data.sha256:
        return Trigger("new_data", True, False, f"{spec.data.source} is what v{baseline.version} was trained on")
    return Trigger(
        "new_data",
        True,
        True,
        f"{spec.data.source} changed since v{baseline.version} "
        f"(sha256 {digest[:12]}, v{baseline.version} trained on {record.data.sha256[:12]})",
    )


def _labelled(repo: Repo, model: str, baseline: Baseline) -> Trigger:
    rows = labelled_traffic(repo, model, baseline.env)
    answered = int((rows["version"].astype(str) == str(baseline.version)).sum())  # logged as text if len(rows) else 0
    if answered:
        return Trigger(
            "labelled_traffic", True, True, f"{answered} labelled answers of v{baseline.version} in the prediction logs"
        )
    return Trigger("labelled_traffic", True, False, f"no labelled answers of v{baseline.version}")
