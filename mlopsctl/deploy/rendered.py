"""The plan of an environment that runs (partly) on the kubernetes target: manifests instead of processes.

Nothing runs on this machine for a kubernetes deployment: what ``apply`` would change is
``deploy/<env>/``, so the plan shows the diff between the folder committed at the ref and what
rendering that ref's environment file gives (:func:`mlopsctl.kubernetes.api.manifest_plan`). Each
model whose files change is one change of the plan (``--exit-code`` sees it); a problem that stops
rendering (a version without a pushed image digest) is one of the plan's problems, at file:line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mlopsctl.deploy.model import Change, ChangeAction, ServiceSpec
from mlopsctl.deploy.plan import Plan
from mlopsctl.kubernetes.api import ManifestPlan

MARKDOWN_DIFF_CHARS = 40_000
"""Most of the manifest diff a pull-request comment shows (GitHub refuses comments past 65,536 characters)."""


@dataclass
class RenderedPlan(Plan):
    """A :class:`Plan` whose kubernetes part is a manifest diff."""

    manifests: ManifestPlan | None = None

    @classmethod
    def of(cls, base: Plan, manifests: ManifestPlan, rendered: list[ServiceSpec]) -> RenderedPlan:
        values = {field.name: getattr(base, field.name) for field in dataclasses.fields(Plan)}
        plan = cls(**values, manifests=manifests)
        plan.problems = [*base.problems, *manifests.problems]
        plan.changes = [*base.changes, *_manifest_changes(manifests, rendered)]
        return plan

    def summary(self) -> str:
        manifests = f" {self.manifests.summary()}." if self.manifests is not None else ""
        return super().summary() + manifests

    def to_dict(self) -> dict[str, Any]:
        found = super().to_dict()
        found["manifests"] = self.manifests.to_dict() if self.manifests is not None else None
        return found

    def to_text(self) -> str:
        text = super().to_text()
        if self.manifests is None or not self.manifests.diff:
            return text
        lines = [f"Manifests ({self.manifests.folder}/ as committed -> as rendered):"]
        lines += [f"  {line}" for line in self.manifests.diff.splitlines()]
        return text + "\n" + "\n".join(lines)

    def to_markdown(self, *, heading: bool = True) -> str:
        text = super().to_markdown(heading=heading)
        if self.manifests is None or not self.manifests.diff:
            return text
        diff = self.manifests.diff
        fence = "````" if "```" in diff else "```"
        shown, cut = _truncated(diff.rstrip("\n"), MARKDOWN_DIFF_CHARS)
        section = ["", f"<details><summary>Manifests: {self.manifests.summary()}</summary>", "", f"{fence}diff"]
        section += [shown, fence]
        if cut:
            section.append(f"{cut} more line(s) not shown: `mlopsctl plan --env {self.env}` prints the whole diff")
        section += ["", "</details>"]
        return text + "\n".join(section) + "\n"


def _truncated(text: str, limit: int) -> tuple[str, int]:
    """At most ``limit`` characters of ``text``, cut at a line end, and how many lines were left out."""
    if len(text) <= limit:
        return text, 0
    kept = text[:limit].rsplit("\n", 1)[0]
    return kept, text.count("\n") - kept.count("\n")


def _manifest_changes(manifests: ManifestPlan, rendered: list[ServiceSpec]) -> list[Change]:
    """One change per model whose files the rendering adds, changes or removes."""
    specs = {spec.model: spec for spec in rendered}
    changes: list[Change] = []
    for model in sorted(specs) + [m for m in manifests.touched_models() if m not in specs]:
        files = manifests.files_of(model)
        if not files:
            continue
        spec = specs.get(model)
        action: ChangeAction = "start" if set(files) <= set(manifests.added) else "update"
        if spec is None:
            action = "stop"
        why = f"{manifests.folder}/: {', '.join(files)}"
        changes.append(Change(action, model, None, spec, (why,)))
    return changes
