"""``mlopsctl runs list|show|compare|push``: the tracked training runs (thin over mlopsctl.tracking.api)."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import UsageError
from mlopsctl.tracking.api import FAILED, FINISHED, Comparison, PushResult, Run, compare, list_runs, push_runs, show_run

STATUS_STYLE = {FINISHED: "green", FAILED: "red"}
DIGITS = 4


@click.group("runs")
def runs_group() -> None:
    """Tracked training runs: what was trained, on what, with what result."""


@runs_group.command("list")
@click.argument("model", required=False)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True, help="Newest runs shown.")
@global_options
def list_command(model: str | None, limit: int) -> int:
    """List runs, newest first (of MODEL, or of every model)."""
    opts = options()
    runs = list_runs(opts.repo_root(), model, limit)
    opts.emit({"runs": [run.to_dict() for run in runs]}, lambda console: _render_list(console, runs, model))
    return 0


@runs_group.command("show")
@click.argument("run_id", metavar="RUN")
@global_options
def show_command(run_id: str) -> int:
    """Everything recorded about one run (RUN may be a unique prefix of its id)."""
    opts = options()
    run = show_run(opts.repo_root(), run_id)
    opts.emit(run.to_dict(), lambda console: _render_show(console, run))
    return 0


@runs_group.command("compare")
@click.argument("run_ids", metavar="RUN RUN...", nargs=-1, required=True)
@global_options
def compare_command(run_ids: tuple[str, ...]) -> int:
    """Runs side by side: only the params, metrics, data and commit that differ."""
    if len(run_ids) < 2:
        raise UsageError("runs compare needs at least two runs", hint="e.g. mlopsctl runs compare 3f9a1c 7b2e04")
    opts = options()
    comparison = compare(opts.repo_root(), list(run_ids))
    opts.emit(comparison.to_dict(), lambda console: _render_compare(console, comparison))
    return 0


@runs_group.command("push")
@global_options
def push_command() -> int:
    """Copy this machine's runs (<state_dir>/runs.db) to the shared run store, once (metadata_store: postgresql://...)."""
    opts = options()
    result = push_runs(opts.repo_root())
    opts.emit(result.to_dict(), lambda console: _render_push(console, result))
    return 0


COMMANDS = [runs_group]


# --------------------------------------------------------------------------- rendering


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{DIGITS}f}" if abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _status(run: Run) -> str:
    style = STATUS_STYLE.get(run.status, "yellow")
    return f"[{style}]{escape(run.status)}[/]"


def _render_list(console: Console, runs: list[Run], model: str | None) -> None:
    if not runs:
        which = f" of {model}" if model else ""
        console.print(f"no runs{escape(which)} yet; start one with: mlopsctl train {escape(model or 'MODEL')}")
        return
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0))
    for column in ("run", "model", "status", "started", "duration", "version", "result"):
        table.add_column(column, no_wrap=column != "result")
    for run in runs:
        kind = f" ({escape(run.kind)})" if run.kind != "train" else ""
        table.add_row(
            escape(run.id),
            escape(run.model),
            _status(run) + kind,
            run.started_iso.replace("T", " ")[:16],
            f"{run.duration:.1f} s" if run.duration is not None else "-",
            f"v{run.version}" if run.version is not None else "-",
            escape(_outcome(run)),
        )
    console.print(table)


def _outcome(run: Run) -> str:
    """The primary metric of a finished run, or the first line of a failed run's error."""
    if _champion(run).get("refused"):
        return "refused by evaluation.champion"
    if run.metrics:
        name, value = next(iter(run.metrics.items()))
        return f"{name}={_value(value)}"
    return (run.error or "").splitlines()[0][:80] if run.error else ""


def _render_show(console: Console, run: Run) -> None:
    console.print(f"[bold]Run {escape(run.id)}[/]  {escape(run.model)}  {_status(run)}  ({escape(run.kind)})")
    rows: list[tuple[str, str]] = [
        ("started", run.started_iso),
        ("duration", f"{run.duration:.2f} s" if run.duration is not None else "-"),
        ("estimator", run.estimator),
        ("version", f"{run.model}@{run.version}" if run.version is not None else "not registered"),
        ("commit", f"{(run.git_commit or '-')[:12]}{' (dirty)' if run.git_dirty else ''}"),
        ("spec sha256", (run.spec_sha256 or "-")[:12]),
        ("overrides", " ".join(run.overrides) or "-"),
    ]
    if run.data:
        rows.append(
            ("data", f"{run.data.get('uri')}  {run.data.get('rows')} rows  sha256 {str(run.data.get('sha256'))[:12]}")
        )
    if run.error:
        rows.append(("error", run.error))
    packages = run.environment.get("packages", {})
    rows.append(("python", f"{run.environment.get('python')} on {run.environment.get('platform')}"))
    rows.append(("packages", " ".join(f"{name}={version}" for name, version in packages.items())))
    _pairs(console, rows)
    _section(console, "params", run.params)
    _section(console, "metrics", run.metrics)
    for gate in run.gates:
        mark = "[green]pass[/]" if gate.get("passed") else "[red]FAIL[/]"
        console.print(f"  {mark}  {escape(str(gate.get('gate')))}  [dim](measured {_value(gate.get('value'))})[/]")
    _render_checks(console, run)
    if run.grid:
        _render_grid(console, run.grid)


def _champion(run: Run) -> dict[str, Any]:
    champion = (run.comparison or {}).get("champion")
    return champion if isinstance(champion, dict) else {}


def _render_checks(console: Console, run: Run) -> None:
    """Data-check warnings recorded on the run, and the verdict against evaluation.champion."""
    for warning in run.warnings:
        where = f"{warning.get('dimension', '')}/{warning.get('check', '')} [{warning.get('column')}]"
        console.print(f"  [yellow]WARN[/]  {escape(where)}: {escape(str(warning.get('observed')))}")
    champion = _champion(run)
    if champion:
        style = "red" if champion.get("refused") else "dim"
        verdict = f"champion {champion.get('env')}: {champion.get('message')}"
        console.print(f"  [{style}]{escape(verdict)}[/]")


def _pairs(console: Console, rows: list[tuple[str, str]]) -> None:
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, escape(value))
    console.print(table)


def _section(console: Console, title: str, values: dict[str, Any]) -> None:
    if values:
        console.print(f"[bold]{title}[/]")
        _pairs(console, [(escape(name), _value(value)) for name, value in values.items()])


def _render_grid(console: Console, grid: list[dict[str, Any]]) -> None:
    console.print(f"[bold]grid[/] ({len(grid)} candidates, by cross-validated score)")
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 2))
    for column in ("rank", "params", "cv score", "std"):
        table.add_column(column)
    for candidate in sorted(grid, key=lambda c: c["rank"]):
        params = " ".join(f"{k}={v}" for k, v in candidate["params"].items())
        table.add_row(
            str(candidate["rank"]), escape(params), _value(candidate["cv_score"]), _value(candidate["cv_std"])
        )
    console.print(table)


def _render_compare(console: Console, comparison: Comparison) -> None:
    if comparison.identical:
        console.print(f"runs {escape(', '.join(comparison.run_ids))}: same params, metrics, data and commit")
        return
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("")
    for run_id in comparison.run_ids:
        table.add_column(escape(run_id), justify="right")
    for title, rows in (("params", comparison.params), ("metrics", comparison.metrics), ("run", comparison.other)):
        if not rows:
            continue
        table.add_row(f"[bold]{title}[/]", *["" for _ in comparison.run_ids])
        for name, values in rows.items():
            table.add_row(f"  {escape(name)}", *[escape(_value(v)) for v in values])
    console.print(table)


def _render_push(console: Console, result: PushResult) -> None:
    if result.local == 0:
        console.print(f"no runs in {escape(result.source)}: nothing to push to {escape(result.target)}")
        return
    if result.copied == 0:
        console.print(
            f"all {result.local} runs of {escape(result.source)} are already in {escape(result.target)}: nothing copied"
        )
        return
    already = result.local - result.copied
    before = f" ({already} were there already)" if already else ""
    console.print(f"copied {result.copied} runs from {escape(result.source)} to {escape(result.target)}{before}")
