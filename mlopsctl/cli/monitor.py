"""Monitoring commands: status, drift, and monitoring render (thin over mlopsctl.monitor.api)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape

from mlopsctl.cli.common import global_options, options
from mlopsctl.cli.fitted_table import FitColumn, print_fitted
from mlopsctl.errors import ExitCode
from mlopsctl.monitor.api import (
    DeploymentHealth,
    FeatureDrift,
    HealthReport,
    LiveDrift,
    OfflineFiles,
    State,
    drift as model_drift,
    render_monitoring,
    status as health_status,
)

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
    """Health of every deployment: one line each; exit 1 when anything is CRIT, 3 when metrics are unreachable.

    Kubernetes environments are read from Prometheus only (exit 3 without a Prometheus URL); under
    each deployment, its ready replicas, autoscaler and pods (CPU, memory, restarts).
    """
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
        console.print(line + _traffic(deployment), soft_wrap=True)
        for detail in _cluster_lines(deployment):
            console.print(f"        [dim]{escape(detail)}[/]", soft_wrap=True)


def _cluster_lines(d: DeploymentHealth) -> list[str]:
    """Under a kubernetes deployment: its replicas and autoscaler, then one line per pod."""
    found = d.cluster
    if found is None:
        return []
    ready = _count(found.ready_replicas)
    desired = f" of {_count(found.desired_replicas)}" if found.desired_replicas is not None else ""
    autoscaler = f", autoscaler {_count(found.autoscaler_replicas)} of {_count(found.autoscaler_max)}"
    lines = [f"{found.deployment} in {found.namespace}: {ready}{desired} replicas ready{autoscaler}"]
    for pod in found.pods:
        cpu = "-" if pod.cpu_cores is None else f"{pod.cpu_cores:.2f}"
        memory = "-" if pod.memory_bytes is None else f"{pod.memory_bytes / 2**20:.1f} MiB"
        oom = " (last: OOMKilled)" if pod.oom_killed else ""
        lines.append(f"{pod.name}  CPU {cpu} cores  memory {memory}  restarts {_count(pod.restarts)}{oom}")
    return lines


def _count(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0f}"


def _traffic(d: DeploymentHealth) -> str:
    """The request rate and the span it is measured over: "  4.3 req/s over 2m of 1h"."""
    rate = d.values.get("request_rate")
    if rate is None or math.isnan(rate):
        return ""
    figure = f"{rate:.1f}" if rate >= 1 else f"{rate:.2f}"
    return f"  [dim]{figure} req/s {escape(d.over)}[/]"


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
@click.option(
    "--min-observations",
    type=click.IntRange(min=1),
    help="Judge drift from this many observations per feature, for this run. Default: monitoring.min_observations.",
)
@global_options
def drift(
    model: str,
    env: str | None,
    window: str | None,
    reference: Path | None,
    current: Path | None,
    version: int | None,
    min_observations: int | None,
) -> int:
    """Per-feature drift of MODEL: live from metrics, or offline with --reference and --current.

    Exit 1 when a feature is CRIT; UNKNOWN (fewer observations than the floor) exits 0.
    """
    opts = options()
    files = OfflineFiles(reference, current, version)
    result = model_drift(
        opts.repo_root(), model, env=env, window=window, files=files, min_observations=min_observations
    )
    if isinstance(result, LiveDrift):
        live = result
        opts.emit(result.to_dict(), lambda console: _render_live(console, live))
    else:
        offline = result
        opts.emit(offline.to_dict(), lambda console: _render_offline(console, offline))
    return _exit(result.state)


LIVE_COLUMNS = (
    FitColumn("feature", essential=True, flexible=True),
    FitColumn("kind", rank=2),
    FitColumn("observations", essential=True, justify="right"),
    FitColumn("missing", rank=1, justify="right"),
    FitColumn("PSI", essential=True, justify="right"),
    FitColumn("chi² p", rank=3),
    FitColumn("state", essential=True),
    FitColumn("reason", essential=True, flexible=True, min_width=24),
)
OFFLINE_COLUMNS = (
    FitColumn("feature", essential=True, flexible=True),
    FitColumn("kind", rank=3),
    FitColumn("bins", rank=6),
    FitColumn("PSI", essential=True, justify="right"),
    FitColumn("KS", rank=5, justify="right"),
    FitColumn("KS p", rank=1, justify="right"),
    FitColumn("chi² p", rank=4, justify="right"),
    FitColumn("missing ref/cur", rank=2, justify="right"),
    FitColumn("state", essential=True),
)


def _render_live(console: Console, drift: LiveDrift) -> None:
    report = drift.report
    console.print(f"[dim]source: {escape(report.source)}[/]")
    for d in report.deployments:
        if not d.features:
            console.print(f"{escape(_name(d))}: {escape(d.summary())}")
            continue
        rows = [
            [
                escape(f.feature),
                f.kind,
                f"{f.observations:.0f}",
                f"{f.missing:.0f}",
                _num(f.psi),
                _num(f.chi2_pvalue, ".3g"),
                _state(f.state),
                escape(f.reason),
            ]
            for f in d.features
        ]
        print_fitted(console, f"{_name(d)} over {d.window}", LIVE_COLUMNS, rows)
    _floor_hint(console, drift.min_observations, [f.observations for d in report.deployments for f in _short(d)])


def _short(d: DeploymentHealth) -> list[FeatureDrift]:
    return [f for f in d.features if f.state is State.UNKNOWN]


def _render_offline(console: Console, report: OfflineReport) -> None:
    rows = [
        [
            escape(f.feature),
            f.kind,
            str(f.bins),
            _num(f.psi),
            _num(f.ks_statistic, ".3f"),
            _num(f.ks_pvalue, ".3g"),
            _num(f.chi2_pvalue, ".3g"),
            f"{f.reference_missing:.1%}/{f.current_missing:.1%}",
            _state(f.state),
        ]
        for f in report.features
    ]
    print_fitted(console, f"{report.model}: offline drift ({report.bins_from})", OFFLINE_COLUMNS, rows)
    for f in report.features:
        if f.state is not State.OK:
            console.print(f"{_state(f.state)} {escape(f.reason)}", soft_wrap=True)
    unknown = [f.observations for f in report.features if f.state is State.UNKNOWN]
    _floor_hint(console, report.min_observations, unknown)


def _state(state: State) -> str:
    return f"[{COLOURS[state]}]{state}[/]"


def _floor_hint(console: Console, floor: int, short: list[float]) -> None:
    """Why a verdict is UNKNOWN, and how to judge anyway, once under the table."""
    if not short:
        return
    fewest = int(min((n for n in short if n >= 1), default=1))
    console.print(
        f"UNKNOWN: fewer observations than monitoring.min_observations ({floor}), so drift is not judged; "
        f"to judge anyway, lower it for this run: --min-observations {fewest}",
        soft_wrap=True,
    )


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
