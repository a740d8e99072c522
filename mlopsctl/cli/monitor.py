"""Monitoring commands: status, drift, and monitoring render (thin over mlopsctl.monitor.api)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import ExitCode
from mlopsctl.monitor.api import (
    DeploymentHealth,
    HealthReport,
    LiveDrift,
    OfflineFiles,
    State,
    render_monitoring,
)
from mlopsctl.monitor.api import drift as model_drift
from mlopsctl.monitor.api import status as health_status

if TYPE_CHECKING:
    from mlopsctl.monitor.api import OfflineReport

COLOURS = {State.OK: "green", State.UNKNOWN: "blue", State.WARN: "yellow", State.CRIT: "red"}


def _exit(state: State) -> int:
    return int(ExitCode.PROBLEMS if state is State.CRIT else ExitCode.OK)


# --------------------------------------------------------------------------- status


@click.command()
@click.option("--env", help="Environment to check. Default: every environment.")
@click.option("--window", help="Window to judge over, e.g. 15m. Default: each model's monitoring.window.")
@global_options
def status(env: str | None, window: str | None) -> int:
    """Health of every deployment: one line each; exit 1 when anything is CRIT, 3 when metrics are unreachable."""
    opts = options()
    report = health_status(opts.repo_root(), env, window)
    opts.emit(report.to_dict(), lambda console: _render_status(console, report))
    return _exit(report.state)


def _render_status(console: Console, report: HealthReport) -> None:
    console.print(f"[dim]source: {escape(report.source)}[/]")
    if not report.deployments:
        console.print("nothing is deployed in the environments checked")
        return
    width = max(len(_name(d)) for d in report.deployments)
    for deployment in report.deployments:
        state = deployment.state
        line = f"[{COLOURS[state]}]{state!s:<7}[/] {escape(_name(deployment)):<{width}}  {escape(deployment.summary())}"
        console.print(line, soft_wrap=True)


def _name(d: DeploymentHealth) -> str:
    return f"{d.env}/{d.model}@{d.version} ({d.role})"


# --------------------------------------------------------------------------- drift


@click.command()
@click.argument("model")
@click.option("--env", help="Environment of the live deployment. Default: every environment running MODEL.")
@click.option("--window", help="Window to judge over, e.g. 15m. Default: the spec's monitoring.window.")
@click.option("--reference", type=click.Path(path_type=Path), help="Offline: reference data (CSV or Parquet).")
@click.option("--current", type=click.Path(path_type=Path), help="Offline: current data (CSV or Parquet).")
@click.option("--version", type=int, help="Offline: use this registered version's bins.")
@global_options
def drift(
    model: str,
    env: str | None,
    window: str | None,
    reference: Path | None,
    current: Path | None,
    version: int | None,
) -> int:
    """Per-feature drift of MODEL: live from metrics, or offline with --reference and --current."""
    opts = options()
    files = OfflineFiles(reference, current, version)
    result = model_drift(opts.repo_root(), model, env=env, window=window, files=files)
    if isinstance(result, LiveDrift):
        report = result.report
        opts.emit(result.to_dict(), lambda console: _render_live(console, report))
    else:
        offline = result
        opts.emit(offline.to_dict(), lambda console: _render_offline(console, offline))
    return _exit(result.state)


def _render_live(console: Console, report: HealthReport) -> None:
    console.print(f"[dim]source: {escape(report.source)}[/]")
    for d in report.deployments:
        table = Table(title=f"{_name(d)} over {d.window}", title_justify="left")
        for column in ("feature", "kind", "observations", "missing", "PSI", "chi² p", "state", "reason"):
            table.add_column(column, justify="right" if column in ("observations", "missing", "PSI") else "left")
        for f in d.features:
            table.add_row(
                escape(f.feature),
                f.kind,
                f"{f.observations:.0f}",
                f"{f.missing:.0f}",
                _num(f.psi),
                _num(f.chi2_pvalue, ".3g"),
                f"[{COLOURS[f.state]}]{f.state}[/]",
                escape(f.reason),
            )
        if not d.features:
            console.print(f"{escape(_name(d))}: {escape(d.summary())}")
        else:
            console.print(table)


def _render_offline(console: Console, report: OfflineReport) -> None:
    table = Table(title=f"{report.model}: offline drift ({report.bins_from})", title_justify="left")
    for column in ("feature", "kind", "bins", "PSI", "KS", "KS p", "chi² p", "missing ref/cur", "state"):
        table.add_column(column)
    for f in report.features:
        table.add_row(
            escape(f.feature),
            f.kind,
            str(f.bins),
            _num(f.psi),
            _num(f.ks_statistic, ".3f"),
            _num(f.ks_pvalue, ".3g"),
            _num(f.chi2_pvalue, ".3g"),
            f"{f.reference_missing:.1%}/{f.current_missing:.1%}",
            f"[{COLOURS[f.state]}]{f.state}[/]",
        )
    console.print(table)
    for f in report.features:
        if f.state is not State.OK:
            console.print(f"[{COLOURS[f.state]}]{f.state}[/] {escape(f.reason)}", soft_wrap=True)


def _num(value: float | None, fmt: str = ".3f") -> str:
    if value is None or math.isnan(value):
        return "-"
    return format(value, fmt)


# --------------------------------------------------------------------------- monitoring render


@click.group(name="monitoring")
def monitoring_group() -> None:
    """Prometheus and Grafana files for the environments."""


@monitoring_group.command(name="render")
@click.option("--env", help="Environment to render. Default: every environment.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder. Default: <repo>/monitoring.")
@click.option("--scrape-interval", default="15s", show_default=True, help="Prometheus scrape and rule interval.")
@global_options
def render(env: str | None, out: Path | None, scrape_interval: str) -> int:
    """Scrape config, recording and alerting rules (checked with promtool) and a Grafana dashboard."""
    opts = options()
    results = render_monitoring(opts.repo_root(), env, out, scrape_interval)

    def show(console: Console) -> None:
        for result in results:
            console.print(f"[green]rendered[/] {escape(str(result['env']))} -> {escape(str(result['folder']))}")
            for file in result["files"]:
                console.print(f"  {escape(str(file))}")
            console.print(f"  [dim]{escape(str(result['promtool']))}[/]")
        console.print(
            "\nTo load them: prometheus --config.file=<folder>/prometheus.yml; import dashboard.json in Grafana"
        )

    opts.emit({"rendered": results}, show)
    return int(ExitCode.OK)


COMMANDS = [status, drift, monitoring_group]
