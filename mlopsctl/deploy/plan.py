"""The plan: what Git says against what runs, as changes, and its text, markdown and JSON forms.

For each model the environment file names, the instances that run for it decide the change:

=========  ===================================================================================
start      nothing runs for it
update     something runs with another version, candidate, strategy, weight, port or target
restart    the same spec runs but is not healthy, or ran and is gone (exited, pid reused)
stop       it runs but Git no longer names it (or it is a leftover: a second instance, a preflight)
=========  ===================================================================================

An instance that runs the desired spec and is healthy is in sync, even when it was found only by
its marker (an apply that was killed before recording it): the next apply adopts it.
"""

from __future__ import annotations

import socket
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from mlopsctl.deploy.desired import Desired
from mlopsctl.deploy.model import PREFLIGHT, SERVICE, Change, ChangeAction, Instance, ServiceSpec

SYMBOLS = {"start": "+", "update": "~", "restart": "!", "stop": "-"}
ORDER = ("start", "update", "restart", "stop")
IN_SYNC = "= in sync"


@dataclass(frozen=True)
class ModelSync:
    """One model of the environment file as the plan sees it: what Git wants, what runs, the verdict.

    The dashboard's Environments view shows these, so it says "in sync" exactly when ``plan`` does.
    """

    model: str
    desired: str
    """The spec's label (``v1 + v2 canary 20%``), or ``-`` when Git no longer names the model."""
    observed: str
    """What runs (the same words), or ``-`` when nothing does."""
    verdict: str
    """``= in sync``, or the change as ``plan`` words it: ``~ update (weight 20% -> 30%)``."""

    @property
    def in_sync(self) -> bool:
        return self.verdict == IN_SYNC


@dataclass
class Plan:
    """The changes that would bring ``env`` to what Git says (empty: in sync)."""

    env: str
    commit: str | None
    changes: list[Change]
    in_sync: list[Instance]
    problems: list[str] = field(default_factory=list)
    """Why apply would refuse (a version that failed its gates, a target it cannot run): nothing is touched."""
    notes: list[str] = field(default_factory=list)
    applied_commit: str | None = None
    host: str = field(default_factory=socket.gethostname)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        found = {action: 0 for action in ORDER}
        for change in self.changes:
            found[change.action] += 1
        return found

    def summary(self) -> str:
        if not self.changes:
            return f"No changes: {self.env} matches Git ({_services(len(self.in_sync))} in sync)."
        counts = self.counts()
        parts = [f"{counts[action]} to {action}" for action in ORDER if counts[action]]
        return ", ".join(parts) + f", {len(self.in_sync)} in sync."

    def by_model(self) -> dict[str, ModelSync]:
        """Each model the plan touches or finds in sync, with the plan's verdict on it."""
        found = {instance.spec.model: _synced(instance.spec) for instance in self.in_sync}
        for change in self.changes:
            if change.model not in found or found[change.model].in_sync or change.after is not None:
                found[change.model] = _changed(change)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "commit": self.commit,
            "applied_commit": self.applied_commit,
            "host": self.host,
            "ok": self.ok,
            "changes": [change.to_dict() for change in self.changes],
            "in_sync": [instance.to_dict() for instance in self.in_sync],
            "counts": {**self.counts(), "in_sync": len(self.in_sync)},
            "problems": self.problems,
            "notes": self.notes,
            "summary": self.summary(),
        }

    def to_text(self) -> str:
        """Plain text for people: one line per change and per service in sync."""
        lines = [self._heading()]
        lines += [f"  {_text_row(change)}" for change in self.changes]
        lines += [f"  {IN_SYNC}  {_spec_column(instance.spec)}  ({instance.where})" for instance in self.in_sync]
        lines.append(self.summary())
        if self.problems:
            lines.append("Refused: apply would stop before touching anything:")
            lines += [f"  {problem}" for problem in self.problems]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_markdown(self, *, heading: bool = True) -> str:
        """Markdown for a pull-request comment (``heading=False``: for a body that has its own)."""
        where = f"`environments/{self.env}.yaml` at `{self.commit[:12]}`" if self.commit else "the proposed change"
        lines = [f"### Plan for `{self.env}`", ""] if heading else []
        lines += [f"Desired: {where}. Observed on `{self.host}`.", ""]
        if self.changes:
            lines += ["| Change | Model | Now | After | Target | Why |", "|---|---|---|---|---|---|"]
            lines += [_markdown_row(change) for change in self.changes]
            lines.append("")
        lines.append(f"**{self.summary()}**")
        if self.problems:
            lines += ["", "**Refused**: apply would stop before touching anything:", ""]
            lines += [f"- {problem}" for problem in self.problems]
        if self.notes:
            lines.append("")
            lines += [f"> {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def _heading(self) -> str:
        at = f" at {self.commit[:12]}" if self.commit else ""
        applied = f"; last applied {self.applied_commit[:12]}" if self.applied_commit else ""
        return f"Plan for {self.env} (environments/{self.env}.yaml{at}{applied}):"


def diff(desired: Desired, observed: list[Instance]) -> tuple[list[Change], list[Instance]]:
    """The changes (in the order apply runs them) and the instances already in sync."""
    services: dict[str, list[Instance]] = defaultdict(list)
    leftovers: list[Instance] = []
    for instance in observed:
        (leftovers if instance.role == PREFLIGHT else services[instance.spec.model]).append(instance)
    changes: list[Change] = [_leftover(instance) for instance in leftovers if _exists(instance)]
    in_sync: list[Instance] = []
    for spec in desired.services:
        found = services.pop(spec.model, [])
        change, current, extras = _reconcile(spec, found)
        changes += [_duplicate(extra) for extra in extras]
        if change is not None:
            changes.append(change)
        elif current is not None:
            in_sync.append(current)
    for model, found in services.items():
        existing = [instance for instance in found if _exists(instance)]
        if existing:
            reason = f"not in environments/{desired.env}.yaml"
            changes.append(Change("stop", model, _current(existing).spec, None, (reason,), tuple(existing)))
    return changes, in_sync


def _reconcile(spec: ServiceSpec, found: list[Instance]) -> tuple[Change | None, Instance | None, list[Instance]]:
    """One model: (its change or None, the instance in sync or None, extra instances to stop)."""
    alive = [instance for instance in found if instance.health.alive]
    matching = [instance for instance in alive if instance.spec == spec and instance.health.ok]
    if matching:
        keep = _current(matching)
        return None, keep, [instance for instance in found if instance is not keep and _exists(instance)]
    existing = tuple(instance for instance in found if _exists(instance))
    if alive:
        current = _current(alive)
        reasons = current.spec.differences(spec) + ([current.health.problem] if not current.health.ok else [])
        action: ChangeAction = "restart" if current.spec == spec else "update"
        return Change(action, spec.model, current.spec, spec, tuple(r for r in reasons if r), existing), None, []
    if found:
        last = _current(found)
        why = last.health.problem or "not running"
        if last.spec == spec:
            return Change("restart", spec.model, spec, spec, (why,), existing), None, []
        return Change("start", spec.model, None, spec, (f"{last.spec.label()} ran before: {why}",), existing), None, []
    return Change("start", spec.model, None, spec, ("not running",)), None, []


def _current(instances: list[Instance]) -> Instance:
    """The instance that stands for what runs: a recorded one first, then the newest."""
    return sorted(instances, key=lambda i: (i.recorded, i.health.alive, i.started_at), reverse=True)[0]


def _leftover(instance: Instance) -> Change:
    reason = f"a preflight instance left by an interrupted apply ({instance.where})"
    return Change("stop", instance.spec.model, instance.spec, None, (reason,), (instance,))


def _duplicate(instance: Instance) -> Change:
    reason = f"a second instance ({instance.where}), left by an interrupted apply"
    return Change("stop", instance.spec.model, instance.spec, None, (reason,), (instance,))


def _exists(instance: Instance) -> bool:
    """Something to stop or remove: a live process, or a container in any state."""
    return instance.health.alive or instance.container is not None


def needs_start(changes: list[Change]) -> list[ServiceSpec]:
    return [change.after for change in changes if change.after is not None]


def service_instances(instances: list[Instance]) -> list[Instance]:
    return [instance for instance in instances if instance.role == SERVICE]


# --------------------------------------------------------------------------- rendering


def _spec_column(spec: ServiceSpec) -> str:
    return f"{spec.model:<16} {spec.label()} on {spec.target} :{spec.port}"


def _synced(spec: ServiceSpec) -> ModelSync:
    return ModelSync(spec.model, spec.label(), spec.label(), IN_SYNC)


def _changed(change: Change) -> ModelSync:
    desired = change.after.label() if change.after is not None else "-"
    observed = change.before.label() if change.before is not None and change.instances else "-"
    why = f" ({'; '.join(change.reasons)})" if change.reasons else ""
    return ModelSync(change.model, desired, observed, f"{SYMBOLS[change.action]} {change.action}{why}")


def _text_row(change: Change) -> str:
    symbol = SYMBOLS[change.action]
    after, before = change.after, change.before
    if change.action == "update" and after is not None and before is not None:
        what = f"{after.model:<16} {before.label()} -> {after.label()} on {after.target} :{after.port}"
    else:
        spec = after or before
        what = _spec_column(spec) if spec is not None else change.model
    why = f"  ({'; '.join(change.reasons)})" if change.reasons else ""
    return f"{symbol} {change.action:<8} {what}{why}"


def _markdown_row(change: Change) -> str:
    before = change.before.label() if change.before else "-"
    after = change.after.label() if change.after else "-"
    spec = change.after or change.before
    target = f"{spec.target} :{spec.port}" if spec is not None else ""
    why = "; ".join(change.reasons).replace("|", "\\|")
    return f"| {SYMBOLS[change.action]} {change.action} | `{change.model}` | {before} | {after} | {target} | {why} |"


def _services(count: int) -> str:
    return f"{count} service" + ("" if count == 1 else "s")
