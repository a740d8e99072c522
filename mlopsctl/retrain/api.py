"""What the faces ask of retraining: ``retrain --check`` (:func:`check`) and ``retrain`` (:func:`retrain`).

:func:`retrain` runs when a trigger fires (or ``force``): fresh data is assembled
(:mod:`mlopsctl.retrain.fresh`) and quality-checked, the version running in the baseline
environment is scored on the fresh hold-out, a candidate is trained (and registered when train's
own gates pass) on the same data, and when the candidate is not worse than the running version by
more than ``evaluation.champion_margin`` on the primary metric, a promotion pull request to
``retraining.promote_to`` is opened through :func:`mlopsctl.gitops.api.promote`, its body showing
the triggers, the evidence and the comparison. A worse candidate stays registered, not proposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.data.api import DataCheck, check_model_data
from mlopsctl.errors import CheckFailed
from mlopsctl.gitops.api import Outcome, promote
from mlopsctl.registry.api import list_versions, load_version
from mlopsctl.retrain.fresh import FreshData, assemble, completeness_overrides
from mlopsctl.retrain.gate import Gate, judge
from mlopsctl.retrain.triggers import Baseline, RetrainCheck, Trigger, check_triggers
from mlopsctl.spec.api import Repo, open_repo
from mlopsctl.spec.models import ModelSpec
from mlopsctl.train.api import ProgressFn, TrainResult, figure, no_progress, score_on_held_out, train_model

SHOWN_FAILURES = 5


@dataclass
class RetrainOutcome:
    """What ``retrain`` did: nothing (not needed), or a candidate and whether it was proposed."""

    check: RetrainCheck
    forced: bool = False
    fresh: FreshData | None = None
    candidate: TrainResult | None = None
    gate: Gate | None = None
    proposal: Outcome | None = None
    not_proposed: str | None = None
    already_trained: str | None = None
    """Why nothing was trained although a trigger fired: a version was trained on the same fresh data."""
    notes: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> bool:
        return self.candidate is not None

    @property
    def proposed(self) -> bool:
        return self.proposal is not None

    def to_dict(self) -> dict[str, Any]:
        candidate = self.candidate
        return {
            **self.check.to_dict(),
            "forced": self.forced,
            "already_trained": self.already_trained,
            "attempted": self.attempted,
            "fresh_data": None
            if self.fresh is None
            else {
                "file": str(self.fresh.path),
                "rows": self.fresh.rows,
                "source_rows": self.fresh.source_rows,
                "labelled_rows": self.fresh.labelled_rows,
            },
            "candidate": None if candidate is None else {"ref": candidate.ref, "metrics": candidate.metrics},
            "registered": candidate is not None and candidate.version is not None,
            "not_registered": candidate.not_registered if candidate is not None else None,
            "comparison": self.gate.to_dict() if self.gate is not None else None,
            "proposed": self.proposed,
            "not_proposed": self.not_proposed,
            "promotion": self.proposal.to_dict() if self.proposal is not None else None,
        }


def check(root: Path, model: str, env: str | None = None) -> RetrainCheck:
    """Which of ``model``'s retraining triggers fire against the version ``env`` runs (see :func:`choose_baseline`)."""
    repo = open_repo(root)
    return check_triggers(repo, _spec(repo, model), env)


def retrain(
    root: Path,
    model: str,
    env: str | None = None,
    *,
    force: bool = False,
    overrides: Sequence[str] = (),
    push: bool = True,
    progress: ProgressFn = no_progress,
) -> RetrainOutcome:
    """When a trigger fires (or ``force``): train on fresh data, gate against the running version, propose."""
    repo = open_repo(root)
    spec = _spec(repo, model)
    outcome = RetrainOutcome(check_triggers(repo, spec, env), forced=force)
    if not (outcome.check.needed or force):
        return outcome
    progress("Assembling fresh data", 0, None)
    source = check_model_data(repo.root, model).dataset.frame
    outcome.fresh = assemble(repo, spec, outcome.check.baseline.env, source)
    dataset = _checked(repo, model, outcome.fresh).dataset
    outcome.already_trained = None if force else _trained_on(repo, model, dataset.fingerprint.sha256)
    if outcome.already_trained is not None:  # a scheduled job must not register the same candidate every run
        return outcome
    running, rows = _running_metrics(repo, spec, outcome.check.baseline, dataset.frame, outcome.fresh)
    relaxed = completeness_overrides(outcome.fresh)
    outcome.candidate = train_model(
        repo, model, overrides=[*relaxed, *overrides], data_path=outcome.fresh.path, progress=progress
    )
    _judge_and_propose(repo, spec, outcome, running, rows, push)
    return outcome


def _spec(repo: Repo, model: str) -> ModelSpec:
    from mlopsctl.gitops.api import model_spec

    return model_spec(repo, model)


def _checked(repo: Repo, model: str, fresh: FreshData) -> DataCheck:
    """The fresh data through the spec's quality checks; a failure names the checks and the file."""
    data = check_model_data(repo.root, model, fresh.path)
    failures = [f for f in data.report.failures() if not (f.check == "missing" and f.column in fresh.absent)]
    if failures:
        shown = "; ".join(
            f"{f.column or 'table'} {f.check}: {f.observed} (expected {f.expected})" for f in failures[:SHOWN_FAILURES]
        )
        raise CheckFailed(
            f"the fresh data for {model} ({fresh.source_rows} source rows + {fresh.labelled_rows} labelled) "
            f"fails {len(failures)} quality check(s): {shown}",
            hint=f"see mlopsctl data check {model} --data {fresh.path}",
        )
    return data


def _trained_on(repo: Repo, model: str, sha256: str) -> str | None:
    """Which version was already trained on exactly this data (its sha256), in words; None when none was."""
    for record in reversed(list_versions(repo, model)):
        if record.data.sha256 == sha256:
            return f"{record.ref} was already trained on this fresh data (sha256 {sha256[:12]})"
    return None


def _running_metrics(
    repo: Repo, spec: ModelSpec, baseline: Baseline, frame: Any, fresh: FreshData
) -> tuple[dict[str, float], int]:
    _, pipeline = load_version(repo, spec.name, baseline.version)
    return score_on_held_out(spec, frame, str(fresh.path), pipeline)


def _judge_and_propose(
    repo: Repo, spec: ModelSpec, outcome: RetrainOutcome, running: dict[str, float], rows: int, push: bool
) -> None:
    candidate = outcome.candidate
    assert candidate is not None
    baseline = outcome.check.baseline
    if candidate.split.get("test_rows") != rows:  # both sides must be scored on the same rows, or nothing is judged
        raise CheckFailed(
            f"the candidate was scored on {candidate.split.get('test_rows')} held-out rows and v{baseline.version} "
            f"on {rows}: not the same hold-out, so they cannot be compared",
            hint="report this: train and retrain split the fresh data differently",
        )
    outcome.gate = judge(spec, candidate.metrics, running, baseline.version, rows)
    if candidate.version is None:
        outcome.not_proposed = f"the candidate was not registered ({candidate.not_registered})"
    elif not outcome.gate.passed:
        gate = outcome.gate
        outcome.not_proposed = (
            f"{candidate.ref} is worse than v{gate.running_version} on {gate.metric} by more than "
            f"evaluation.champion_margin ({figure(gate.margin)}); it stays registered"
        )
    else:
        outcome.proposal = promote(
            repo.root,
            candidate.ref or "",
            spec.retraining.promote_to,
            push=push,
            message=evidence_text(outcome),  # the commit's body: the audit log keeps the evidence without a forge
            extra_body=evidence_markdown(outcome),  # the pull request's retraining section, after the plan
        )


def evidence_markdown(outcome: RetrainOutcome) -> str:
    """The pull request's retraining section: triggers, evidence, data and the comparison."""
    check, gate, fresh = outcome.check, outcome.gate, outcome.fresh
    assert gate is not None and fresh is not None
    fired = check.fired
    lines = ["### Retraining", ""]
    lines.append(
        f"Triggered by: {', '.join(t.name for t in fired)}" if fired else "Triggered by: --force (no trigger fired)"
    )
    lines += ["", "| trigger | fired | evidence |", "|---|---|---|"]
    lines += [_trigger_row(trigger) for trigger in check.triggers]
    lines += [
        "",
        f"Fresh data: {fresh.rows} rows ({fresh.source_rows} from data.source, "
        f"{fresh.labelled_rows} labelled from the prediction logs of {check.baseline.env})" + absent_note(fresh),
        "",
        f"Comparison: {gate.summary}",
    ]
    return "\n".join(lines)


def evidence_text(outcome: RetrainOutcome) -> str:
    """The same evidence as plain text, for the promotion commit's message."""
    check, gate, fresh = outcome.check, outcome.gate, outcome.fresh
    assert gate is not None and fresh is not None
    fired = ", ".join(t.name for t in check.fired) or "--force (no trigger fired)"
    lines = [f"Retrained on fresh data; triggered by {fired}."]
    lines += [f"- {t.name}: {t.reason}" for t in check.fired]
    lines.append(
        f"Fresh data: {fresh.rows} rows ({fresh.source_rows} from data.source, {fresh.labelled_rows} labelled)"
    )
    lines.append(f"Comparison: {gate.summary}")
    return "\n".join(lines)


def absent_note(fresh: FreshData) -> str:
    """What the labelled rows lack, and that train was told so (its --set overrides)."""
    if not fresh.absent:
        return ""
    return f"; {', '.join(fresh.absent)} empty in the labelled rows (requests do not carry them)"


def _trigger_row(trigger: Trigger) -> str:
    fired = "yes" if trigger.fired else "no" if trigger.enabled else "off"
    return f"| {trigger.name} | {fired} | {trigger.reason.replace('|', '/')} |"


__all__ = [
    "Gate",
    "RetrainCheck",
    "RetrainOutcome",
    "Trigger",
    "absent_note",
    "check",
    "evidence_markdown",
    "evidence_text",
    "retrain",
]
