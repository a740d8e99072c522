"""The decision for one canary deployment at its current step: wait, advance, promote, roll back, or
refuse (the spec or the environment file is wrong). Nothing here writes: :mod:`.api` commits.

Only models whose spec declares a ``rollout`` block are driven (the block is opt-in; a canary of
any other model is "manual": its weight changes by hand, as ``promote`` without ``--weight`` starts
it at 10% then). A step is judged once it has run ``rollout.min_interval`` since the commit that set its weight and
the candidate has answered ``rollout.min_requests`` requests in that time; then any failed check
rolls back, and all others passing (or without data) move to the next step, or to the full
promotion after the last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mlopsctl.monitor.evidence import Evidence, candidate_evidence, duration_text, window_seconds
from mlopsctl.monitor.sources import MetricsSource
from mlopsctl.rollout.checks import StepCheck, step_checks
from mlopsctl.rollout.steps import FULL, Step, rollout_weights, step_started
from mlopsctl.spec.loader import Repo
from mlopsctl.spec.models import Deployment, ModelSpec, duration_seconds

Action = Literal["wait", "advance", "promote", "rollback", "refused", "manual"]
SourceFactory = Callable[[], MetricsSource]


@dataclass
class Decision:
    """What ``rollout`` decided for one deployment, and why."""

    model: str
    env: str
    stable: int
    candidate: int
    weight: int
    action: Action
    reason: str
    step: Step | None = None
    checks: list[StepCheck] = field(default_factory=list)
    window: str = ""
    evidence: Evidence | None = None
    commit: str | None = None
    pushed: bool = False
    next_steps: list[str] = field(default_factory=list)
    """What to do after the commit (the push command under ``--no-push``)."""

    @property
    def next_weight(self) -> int | None:
        if self.step is None or self.action not in ("advance", "promote"):
            return None
        return self.step.next_weight

    @property
    def changes(self) -> bool:
        return self.action in ("advance", "promote", "rollback")

    @property
    def step_text(self) -> str:
        """``step 2/4, 25%``, as the dashboard and the table show it."""
        if self.step is not None:
            return f"step {self.step.number}, {self.weight}%"
        return f"{self.weight}%, no rollout" if self.action == "manual" else f"{self.weight}%, not a step"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "env": self.env,
            "stable": self.stable,
            "candidate": self.candidate,
            "weight": self.weight,
            "step": self.step.number if self.step else None,
            "action": self.action,
            "next_weight": self.next_weight,
            "reason": self.reason,
            "window": self.window,
            "checks": [check.to_dict() for check in self.checks],
            "evidence": self.evidence.to_dict() if self.evidence else None,
            "commit": self.commit,
            "pushed": self.pushed,
            "next_steps": self.next_steps,
        }


def judge(repo: Repo, env: str, model: str, deployment: Deployment, source: SourceFactory) -> Decision:
    """The decision for ``model``'s canary in ``env`` (``deployment``, as committed at ``HEAD``)."""
    spec = repo.model(model)
    base = _decision(model, env, deployment)
    if "rollout" not in spec.model_fields_set:
        base.action = "manual"
        base.reason = (
            f"models/{model}/model.yaml declares no rollout block: this canary's weight changes by hand "
            f"(mlopsctl promote {model}@{deployment.candidate} --env {env} --weight PCT)"
        )
        return base
    refused = _refusal(repo, spec, env, deployment)
    if refused:
        base.action, base.reason = "refused", refused
        return base
    weights = rollout_weights(spec)
    commit, started = step_started(repo.root, env, model, deployment)
    now = time.time()
    base.step = Step(weights.index(base.weight), weights, started or now, commit)
    return _judge_step(base, spec, now, source)


def _decision(model: str, env: str, deployment: Deployment) -> Decision:
    assert deployment.candidate is not None and deployment.weight is not None  # a canary, validated
    return Decision(model, env, deployment.version, deployment.candidate, deployment.weight, "wait", "")


def _refusal(repo: Repo, spec: ModelSpec, env: str, deployment: Deployment) -> str:
    """What makes the rollout impossible to judge: a step the policy forbids, a weight off the steps."""
    where = f"models/{spec.name}/model.yaml"
    limit = spec.promotion.max_canary_weight
    over = [step for step in spec.rollout.steps if step != FULL and step > limit]
    if over:
        return (
            f"rollout.steps in {where} has {', '.join(f'{s}%' for s in over)}, above promotion.max_canary_weight "
            f"({limit}%): only 100 (the full promotion) may be"
        )
    weights = rollout_weights(spec)
    if deployment.weight not in weights:
        shown = ", ".join(map(str, weights))
        return (
            f"{spec.name} in {env} runs a {deployment.weight}% canary, which is not a step of rollout.steps "
            f"[{shown}] in {where}; nothing changed"
        )
    return ""


def _judge_step(decision: Decision, spec: ModelSpec, now: float, source: SourceFactory) -> Decision:
    step = decision.step
    assert step is not None
    elapsed, interval = now - step.started, duration_seconds(spec.rollout.min_interval)
    decision.window = f"{duration_text(window_seconds(step.started, now))} since {_clock(step.started)}"
    where = f"step {step.number} ({step.weight}%)"
    if elapsed < interval:
        decision.reason = (
            f"{where} has run {duration_text(elapsed)} of rollout.min_interval {spec.rollout.min_interval}; "
            f"judged in {duration_text(interval - elapsed)}"
        )
        return decision
    evidence = candidate_evidence(
        source(), model=decision.model, env=decision.env, stable=decision.stable, candidate=decision.candidate,
        role="canary", start=step.started, end=now, spec=spec,
    )  # fmt: skip
    decision.evidence = evidence
    requests = int(evidence.value("candidate_requests") or 0)
    if requests < spec.rollout.min_requests:
        missing = spec.rollout.min_requests - requests
        decision.reason = (
            f"v{decision.candidate} answered {requests} of the {spec.rollout.min_requests} requests {where} needs "
            f"(rollout.min_requests); waiting for {missing} more"
        )
        return decision
    decision.checks = step_checks(evidence, spec, decision.window)
    return _verdict(decision, where)


def _verdict(decision: Decision, where: str) -> Decision:
    step = decision.step
    assert step is not None
    failed = [check for check in decision.checks if check.failed]
    if failed:
        decision.action = "rollback"
        decision.reason = f"{where} failed: " + "; ".join(check.line() for check in failed)
    elif step.last:
        decision.action = "promote"
        decision.reason = f"{where} passed its checks: v{decision.candidate} replaces v{decision.stable}"
    else:
        decision.action = "advance"
        decision.reason = f"{where} passed its checks: next step {step.next_number} ({step.next_weight}%)"
    return decision


def _clock(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))
