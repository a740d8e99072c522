"""The door to canary analysis: what ``mlopsctl rollout`` and the dashboard call.

:func:`judge_rollouts` decides for every canary of an environment (or one model's) and writes
nothing: ``rollout --dry-run`` prints it, the dashboard shows it live. :func:`run_rollout` decides the
same way, then commits each decision through :mod:`mlopsctl.gitops.api` directly on the current
branch (the canary itself was reviewed when it was promoted) with ``Rollout-Step`` and
``Rollout-Decision`` trailers and the evidence, with the PromQL behind each check, in the message.
Every decision is made before the first commit: Prometheus failing midway commits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.errors import NotFound, PrometheusUnreachable
from mlopsctl.gitops import api as gitops
from mlopsctl.monitor.sources import MetricsSource, PrometheusSource
from mlopsctl.rollout.judge import Decision, judge
from mlopsctl.spec.loader import Repo, scan_repo

__all__ = ["Decision", "RolloutReport", "judge_rollouts", "run_rollout"]


@dataclass
class RolloutReport:
    """Every canary judged in one environment, and what was committed."""

    env: str
    decisions: list[Decision] = field(default_factory=list)
    dry_run: bool = True
    source: str = ""

    @property
    def exit_code(self) -> int:
        """0 advanced, promoted, waiting or nothing to do; 1 rolled back or refused."""
        return 1 if any(d.action in ("rollback", "refused") for d in self.decisions) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "dry_run": self.dry_run,
            "source": self.source,
            "decisions": [decision.to_dict() for decision in self.decisions],
        }


def judge_rollouts(root: Path, env: str, model: str | None = None, *, repo: Repo | None = None) -> RolloutReport:
    """The decision for each canary of ``env`` (only ``model``'s when given); nothing is written.

    Raises PrometheusUnreachable (exit 3) when a step is due and Prometheus does not answer.
    """
    repo = repo or scan_repo(root)
    environment = repo.environment(env)
    if model is not None and model not in environment.deployments:
        raise NotFound(f"nothing runs for {model} in {env}", hint=f"see environments/{env}.yaml")
    sources = _LazySource(repo, env)
    report = RolloutReport(env)
    try:
        for name, deployment in sorted(environment.deployments.items()):
            if (model is None or name == model) and deployment.strategy == "canary":
                report.decisions.append(judge(repo, env, name, deployment, sources))
    except PrometheusUnreachable as exc:
        raise PrometheusUnreachable(f"{exc.message}; the rollout is paused, nothing committed", hint=exc.hint) from None
    report.source = sources.description
    return report


def run_rollout(root: Path, env: str, model: str | None = None, *, push: bool = True) -> RolloutReport:
    """Judge like :func:`judge_rollouts`, then commit each advance, promotion and rollback."""
    report = judge_rollouts(root, env, model)
    report.dry_run = False
    for decision in report.decisions:
        if decision.changes:
            _commit(root, decision, push)
    return report


class _LazySource:
    """The environment's Prometheus, connected the first time a step is due (a waiting step needs none)."""

    def __init__(self, repo: Repo, env: str) -> None:
        self.repo, self.env = repo, env
        self.source: MetricsSource | None = None

    def __call__(self) -> MetricsSource:
        if self.source is None:
            self.source = PrometheusSource(self.repo.settings.prometheus, [self.env])
        return self.source

    @property
    def description(self) -> str:
        return self.source.description if self.source is not None else ""


def _commit(root: Path, decision: Decision, push: bool) -> None:
    step = decision.step
    assert step is not None
    body = commit_body(decision)
    ref = f"{decision.model}@{decision.candidate}"
    if decision.action == "rollback":
        trailers = {"Rollout-Step": step.number, "Rollout-Decision": "rollback"}
        outcome = gitops.rollback(
            root, decision.model, decision.env, direct=True, push=push, message=decision.reason,
            extra_body=body, trailers=trailers,
        )  # fmt: skip
    else:
        strategy, weight = ("replace", None) if decision.action == "promote" else ("canary", step.next_weight)
        trailers = {"Rollout-Step": step.next_number, "Rollout-Decision": decision.action}
        outcome = gitops.promote(
            root, ref, decision.env, strategy=strategy, weight=weight, direct=True, push=push,
            message=decision.reason, extra_body=body, trailers=trailers,
        )  # fmt: skip
    decision.commit, decision.pushed, decision.next_steps = outcome.commit, outcome.pushed, outcome.next_steps


def commit_body(decision: Decision) -> str:
    """The evidence in the commit message: the summary, then each check with the PromQL behind it."""
    lines = [decision.evidence.summary()] if decision.evidence else []
    lines.append(f"Checks of step {decision.step.number if decision.step else '?'} over {decision.window}:")
    for check in decision.checks:
        lines.append(f"- {check.line()}")
        lines.extend(f"    {query_line}" for query_line in check.promql.splitlines())
    return "\n".join(lines)
