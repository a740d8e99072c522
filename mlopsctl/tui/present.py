"""From the dashboard's state and the core's results to what the views show: rows, panels, previews.

Plain functions returning table cells and rich Text; no widgets and no Textual state, so they are
cheap to test and deterministic in snapshots.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from mlopsctl.errors import MlopsError
from mlopsctl.overview.api import Overview, Placement
from mlopsctl.tui import render
from mlopsctl.tui.safe import safe_cell
from mlopsctl.tui.state import DashboardState

if TYPE_CHECKING:
    from mlopsctl.deploy.api import Plan
    from mlopsctl.gitops.api import Preview
    from mlopsctl.monitor.api import HealthReport
    from mlopsctl.rollout.api import Decision
    from mlopsctl.spec.api import Repo

LIVE_SERIES = (
    ("request_rate", "req/s"),
    ("p95_latency_ms", "p95"),
    ("error_rate", "errors"),
    ("cpu_cores", "cpu"),
    ("memory_bytes", "memory"),
)


# ---------------------------------------------------------------------- environments, drift, live


PLANNING = "planning…"
PLAN_FAILED = "plan failed (see below)"
NOT_COMMITTED = "not committed: plan reads the committed file"
Synced = tuple[str, str, str]
"""(desired, observed, verdict) of one model in one environment."""


def environment_rows(state: DashboardState, only: str | None, needle: str) -> list[tuple[str, list[Any]]]:
    """One row per (environment, model) that Git places somewhere: desired, observed, health, sync.

    The plan is the one source of "in sync": once it is computed (in a worker), DESIRED, OBSERVED
    and SYNC are the plan's words for the model, as ``mlopsctl plan`` prints them. Until then, the
    environment file and the health report stand in and SYNC says the plan is coming.
    """
    observed = _observed(state.report)
    rows: list[tuple[str, list[Any]]] = []
    for env in state.overview.environments:
        if only and env != only:
            continue
        planned = _planned(state, env)
        for name, row in sorted(state.overview.models.items()):
            placement = row.placements.get(env)
            if placement is None:
                continue
            fallback = (placement.label(), observed.get((env, name), "-"))
            desired, seen, verdict = _synced(state, env, planned, name, fallback)
            cells = [env, name, desired, seen, render.state(_env_state(state.report, env, name)), _sync_cell(verdict)]
            if needle.lower() in " ".join(map(str, cells)).lower():
                rows.append((f"{env}/{name}", cells))
    return rows


def store_plans(state: DashboardState, plans: dict[str, Plan | MlopsError]) -> None:
    """Keep each environment's new plan (its text for the plan panel), or why it failed."""
    for env, plan in plans.items():
        if isinstance(plan, MlopsError):
            state.plans.pop(env, None)
            state.plan_failed[env] = f"{plan.title}: {plan.message}"
            state.plan_text[env] = state.plan_failed[env]
        else:
            state.plan_failed.pop(env, None)
            state.plans[env] = plan
            state.plan_text[env] = plan.to_text()


def _planned(state: DashboardState, env: str) -> dict[str, Synced] | None:
    """Per model, the environment's last plan's words; None while no plan was computed."""
    plan = state.plans.get(env)
    if plan is None:
        return None
    return {name: (sync.desired, sync.observed, sync.verdict) for name, sync in plan.by_model().items()}


def _synced(
    state: DashboardState, env: str, planned: dict[str, Synced] | None, name: str, fallback: tuple[str, str]
) -> Synced:
    if env in state.plan_failed:
        return (*fallback, PLAN_FAILED)
    if planned is None:
        return (*fallback, PLANNING)
    return planned.get(name) or (*fallback, NOT_COMMITTED)


def _sync_cell(verdict: str) -> Text:
    if verdict == PLANNING:
        return Text(verdict, style="dim")
    return Text(verdict, style="green" if verdict.startswith("=") else "yellow")


def drift_text(state: DashboardState, model: str) -> Text:
    if state.report is None:
        return Text("waiting for health…", style="dim")
    spec = state.repo.models.get(model) if state.repo else None
    warn, crit = (spec.monitoring.drift_psi.warn, spec.monitoring.drift_psi.crit) if spec else (0.1, 0.25)
    text = Text()
    for deployment in state.report.deployments:
        if deployment.model != model:
            continue
        text.append(f"{deployment.env} v{deployment.version} {deployment.role}\n", style="bold")
        for feature in deployment.features:
            psi = None if math.isnan(feature.psi) else feature.psi
            text.append(f"  {feature.feature[:15]:<15} ")
            text.append_text(render.bar(psi, warn, crit, width=18))
            text.append(f" {fmt(psi)}\n")
        for name in ("performance", "agreement"):  # live performance from labels; a candidate's agreement
            check = next((c for c in deployment.checks if c.name == name), None)
            if check is not None:
                style = {"OK": "green", "WARN": "yellow", "CRIT": "red"}.get(str(check.state), "dim")
                text.append(f"  {check.reason}\n", style=style)
    return text or Text("not deployed: no live drift", style="dim")


def live_text(state: DashboardState, model: str) -> Text:
    text = Text()
    for (env, name, version, role), series in sorted(state.live_history.items()):
        if name != model:
            continue
        text.append(f"{env} v{version} {role}\n", style="bold")
        for metric, label in LIVE_SERIES:
            values = series.get(metric, deque())
            last = values[-1] if values else float("nan")
            text.append(f"  {label:<7} ")
            text.append_text(render.sparkline(values, 18))  # fits the side panel with "0.04 cores"
            text.append(f" {render.quantity(metric, last)}\n")
    return text or Text("no live data", style="dim")


def _observed(report: HealthReport | None) -> dict[tuple[str, str], str]:
    if report is None:
        return {}
    found: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for d in report.deployments:
        if d.values.get("up") == 1.0:
            found[(d.env, d.model)][d.role] = d.version
    return {key: _observed_label(roles) for key, roles in found.items()}


def _observed_label(roles: dict[str, int]) -> str:
    stable = roles.get("stable")
    if "canary" in roles:
        return f"v{stable}→v{roles['canary']}"
    if "shadow" in roles:
        return f"v{stable}+v{roles['shadow']} shadow"
    return f"v{stable}"


def _env_state(report: HealthReport | None, env: str, model: str) -> str:
    if report is None:
        return "-"
    states = [d.state for d in report.deployments if d.env == env and d.model == model]
    return str(max(states)) if states else "-"


# ---------------------------------------------------------------------- a model's versions and runs


def model_details(root: Path, model: str, overview: Overview) -> dict[str, Any]:
    """Versions and runs of one model, as table cells (read in a worker)."""
    from mlopsctl.registry.api import archived_versions, read_record

    row = overview.models.get(model)
    archived = archived_versions(root, model)
    images = _pushed_images(root, model)
    versions = []
    for number in reversed(row.versions if row else []):
        record = read_record(root, model, number)
        stage = ", ".join(_role_in(row.placements[env], number) for env in row.stage_of(number)) if row else ""
        stage = "archived" if number in archived else stage or "-"
        gates = Text("passed", style="green") if record.gates_passed else Text("failed", style="red")
        cells = [
            f"v{number}",
            record.created_at[:10],
            render.metrics_summary(record.metrics, limit=1),
            gates,
            f"{record.data.rows} {record.data.sha256[:7]}",
            record.spec_commit[:7],
            images.get(number, "-"),
            stage,
        ]
        versions.append({"version": number, "cells": cells})
    return {"versions": versions, "runs": _run_rows(root, model)}


def _run_rows(root: Path, model: str) -> list[dict[str, Any]]:
    from mlopsctl.tracking.api import list_runs

    try:
        found = list_runs(root, model, limit=50)
    except MlopsError:
        return []
    runs = []
    for run in found:
        started = run.started_iso[:16].replace("T", " ")
        summary = render.metrics_summary(run.metrics, limit=1)
        cells = [run.id, started, run.status, summary, f"v{run.version}" if run.version else "-"]
        runs.append({"id": run.id, "cells": cells})
    return runs


def _role_in(placement: Placement, version: int) -> str:
    if version == placement.version:
        return placement.env
    if placement.strategy == "canary":
        return f"{placement.env} canary {placement.weight}%"
    return f"{placement.env} shadow"


def _pushed_images(root: Path, model: str) -> dict[int, str]:
    """The last image pushed for each version; a bad committed images.yaml is a CheckFailed naming it."""
    from mlopsctl.build.api import read_pushed

    return {entry.version: entry.reference for entry in read_pushed(root, model)}


def history_row(entry: Any) -> dict[str, Any]:
    gates = "-" if entry.gates_passed is None else "passed" if entry.gates_passed else "failed"
    strategy = entry.strategy or "-"
    if entry.weight:
        strategy += f" {entry.weight}%"
    cells = [
        entry.date[:16].replace("T", " "),
        entry.author,
        entry.action,
        entry.model,
        f"v{entry.version}" if entry.version else (entry.change or "-"),  # a removal says so
        entry.env or "-",
        strategy,
        gates,
        entry.commit[:8],
    ]
    return {"commit": entry.commit, "model": entry.model, "cells": cells}


# ---------------------------------------------------------------------- modals: previews, records, outcomes


def preview_text(preview: Preview) -> Text:
    """What the promote and rollback modals show: the same content as ``--dry-run``."""
    text = Text()
    if preview.gates:
        text.append("Gate checks\n", style="bold")
    for gate in preview.gates:
        mark, style = ("✓", "green") if gate.passed else ("✗", "red")
        text.append(f"  {mark} {gate.gate}  (measured {fmt(gate.value)})\n", style=style)
    if preview.refused is not None:
        text.append_text(refusal_text(preview.refused, preview.hint))
        return text
    text.append(f"\n{preview.title}\nCommit {preview.destination}\n\n", style="bold")
    for line in preview.diff.splitlines():
        text.append(line + "\n", style=_diff_style(line))
    return text


def refusal_text(message: str, hint: str | None) -> Text:
    return Text(f"✗ {message}" + (f"\nhint: {hint}" if hint else ""), style="red")


def _diff_style(line: str) -> str:
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return "cyan" if line.startswith("@@") else ""


def describe(outcome: Any) -> str:
    """The notification after an action: the commit and the next step, or the reference built."""
    steps = getattr(outcome, "next_steps", None)
    if steps:
        return f"done: {getattr(outcome, 'commit', '')[:8]}  {steps[0]}"
    ref = getattr(outcome, "ref", None)
    return f"done: {ref}" if ref else "done"


def fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def comparison_table(data: dict[str, Any]) -> Table:
    table = Table(box=None, header_style="bold")
    table.add_column("")
    for run in data.get("runs", []):
        table.add_column(safe_cell(str(run)))
    for section in ("params", "metrics", "context"):
        for name, values in (data.get(section) or {}).items():
            label = f"{section[:-1] if section != 'context' else ''} {name}".strip()
            table.add_row(safe_cell(label), *(safe_cell(str(v)) for v in values))
    return table


def record_text(record: Any) -> Text:
    text = Text()
    text.append("Lineage\n", style="bold")
    text.append(f"  run {record.run_id}  spec {record.spec_commit[:12]}{' (dirty)' if record.spec_dirty else ''}\n")
    text.append(f"  data {record.data.uri}  {record.data.rows} rows  sha256 {record.data.sha256[:16]}\n")
    text.append(f"  artifact sha256 {record.artifact.sha256[:16]}  {record.artifact.size} bytes\n")
    text.append("Metrics\n", style="bold")
    for name, value in sorted(record.metrics.items()):
        text.append(f"  {name:<20} {value:.4f}\n")
    text.append("Gates\n", style="bold")
    for gate in record.gates:
        text.append(f"  {'✓' if gate.passed else '✗'} {gate.gate}\n", style="green" if gate.passed else "red")
    text.append("Parameters\n", style="bold")
    for name, value in sorted(record.params.items()):
        text.append(f"  {name} = {value}\n")
    return text


# --------------------------------------------------------------------------- rollouts

Judged = tuple[dict[str, "Decision"], dict[str, str]]
"""Decisions per ``env/model`` and, per environment, why its canaries could not be judged."""
_VERDICT_STYLE = {"pass": "green", "fail": "bold red", "no data": "yellow"}
_ROLLOUT_VERBS = {
    "wait": "waiting",
    "advance": "rollout would advance",
    "promote": "rollout would promote",
    "rollback": "rollout would roll back",
    "refused": "refused",
    "manual": "manual",
}


def canary_envs(overview: Overview) -> list[str]:
    """The environments where some model runs a canary."""
    placed = (placement for row in overview.models.values() for placement in row.placements.values())
    return sorted({placement.env for placement in placed if placement.strategy == "canary"})


def judge_canaries(root: Path, overview: Overview, repo: Repo) -> Judged:
    """Every canary judged as ``rollout --dry-run`` judges it (in a worker: Prometheus and git are read)."""
    from mlopsctl.rollout.api import judge_rollouts

    decisions: dict[str, Decision] = {}
    problems: dict[str, str] = {}
    for env in canary_envs(overview):
        try:
            report = judge_rollouts(root, env, repo=repo)
        except MlopsError as exc:
            problems[env] = f"{exc.title}: {exc.message}"
            continue
        decisions.update({f"{env}/{decision.model}": decision for decision in report.decisions})
    return decisions, problems


def store_rollouts(state: DashboardState, judged: Judged) -> None:
    state.rollouts, state.rollout_problems = judged


def rollout_panel(state: DashboardState, env: str | None, model: str | None) -> Text | None:
    """The selected deployment's rollout: its step, what ``rollout`` would do, and the checks; None
    when it is not in a canary."""
    key = f"{env}/{model}"
    decision = state.rollouts.get(key)
    if decision is None:
        problem = state.rollout_problems.get(env or "")
        return Text(safe_cell(f"{model} in {env}: rollout not judged: {problem}"), style="yellow") if problem else None
    lines = Text(safe_cell(f"{decision.model} in {decision.env}: {decision.step_text}"), style="bold")
    verb = _ROLLOUT_VERBS[decision.action]
    lines.append(f"\n{safe_cell(verb)}: {safe_cell(decision.reason)}")
    for check in decision.checks:
        lines.append("\n  ")
        lines.append(safe_cell(f"{check.name:<24}{check.shown:<16}{check.limit:<14}"))
        lines.append(f"{check.verdict:<9}", style=_VERDICT_STYLE[check.verdict])
        lines.append(safe_cell(f"over {check.window}"))
    return lines
