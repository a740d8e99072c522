"""``mlopsctl train`` and ``mlopsctl reproduce``: thin commands over mlopsctl.train."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlopsctl.cli.common import Options, global_options, options
from mlopsctl.errors import ExitCode, UsageError

if TYPE_CHECKING:  # the core (scikit-learn, pandas) is imported when a command runs, not when the CLI starts
    from mlopsctl.train.api import Comparison, ReproduceResult, TrainResult

DIGITS = 4


class ProgressBars:
    """Rich progress bars on stderr for the core's progress callback; silent for JSON or a non-terminal."""

    def __init__(self, opts: Options) -> None:
        self.enabled = not opts.json and opts.err.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=opts.err,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}
        self.current: str | None = None

    def __enter__(self) -> ProgressBars:
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self.enabled:
            self.progress.stop()

    def __call__(self, label: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if label not in self.tasks:
            self._finish_current()
            self.tasks[label] = self.progress.add_task(label, total=total)
            self.current = label
        self.progress.update(self.tasks[label], completed=done, total=total)

    def _finish_current(self) -> None:
        if self.current is not None:
            task = self.tasks[self.current]
            total = self.progress.tasks[task].total
            self.progress.update(task, completed=total or 1, total=total or 1)


@click.command()
@click.argument("model")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Change one spec field for this run, e.g. --set training.params.max_depth=5 (repeatable).",
)
@click.option("--grid", is_flag=True, help="Run training.grid as one experiment with cross-validation; keep the best.")
@click.option("--no-register", is_flag=True, help="Track the run but register no version, even when the gates pass.")
@click.option("--data", "data_path", type=click.Path(path_type=Path), help="Train on this file instead of data.source.")
@global_options
def train(model: str, overrides: tuple[str, ...], grid: bool, no_register: bool, data_path: Path | None) -> int:
    """Check the data, fit the pipeline, evaluate, gate, and register MODEL's next version."""
    from mlopsctl.train.api import train_model

    opts = options()
    repo = opts.open()
    with ProgressBars(opts) as bars:
        result = train_model(
            repo,
            model,
            overrides=list(overrides),
            grid=grid,
            register=not no_register,
            data_path=data_path,
            progress=bars,
        )
    opts.emit(result.to_dict(), lambda console: _render_train(console, result))
    return int(ExitCode.OK if result.accepted else ExitCode.PROBLEMS)


@click.command()
@click.argument("ref", metavar="[MODEL@VERSION]", required=False)
@click.option("--data", "data_path", type=click.Path(path_type=Path), help="Read the data from here instead.")
@click.option(
    "--bundle",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Reproduce from a bundle (mlopsctl archive MODEL@V --export DIR) alone, after checking its manifest.",
)
@global_options
def reproduce(ref: str | None, data_path: Path | None, bundle: Path | None) -> int:
    """Train MODEL@VERSION again from its recorded spec, params and data; report whether it matches.

    When the data file at the recorded data.uri is missing or holds other bytes, the data snapshot
    train stored in the artifact store is used (and the output says so). With --bundle DIR, no
    repository is needed: every file is checked against the bundle's manifest.json first.
    """
    opts = options()
    if bundle is not None:
        return _reproduce_bundle(opts, ref, data_path, bundle)
    if ref is None:
        raise UsageError("reproduce needs MODEL@VERSION, or --bundle DIR", hint="e.g. mlopsctl reproduce churn@1")
    from mlopsctl.train.api import reproduce_version

    repo = opts.open()
    with ProgressBars(opts) as bars:
        result = reproduce_version(repo, ref, data_path=data_path, progress=bars)
    opts.emit(result.to_dict(), lambda console: _render_reproduce(console, result))
    return int(ExitCode.OK if result.metrics_match else ExitCode.PROBLEMS)


def _reproduce_bundle(opts: Options, ref: str | None, data_path: Path | None, bundle: Path) -> int:
    if ref is not None or data_path is not None:
        raise UsageError(
            "--bundle DIR reproduces the bundle's own version from its own data",
            hint="drop MODEL@VERSION and --data, or drop --bundle",
        )
    from mlopsctl.train.api import reproduce_bundle

    with ProgressBars(opts) as bars:
        result = reproduce_bundle(bundle, progress=bars)
    opts.emit(result.to_dict(), lambda console: _render_reproduce(console, result))
    return int(ExitCode.OK if result.metrics_match and result.artifact_matches else ExitCode.PROBLEMS)


COMMANDS = [train, reproduce]


# --------------------------------------------------------------------------- rendering


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.{DIGITS}f}" if abs(value) < 1e6 else f"{value:.4g}"


def _render_train(console: Console, result: TrainResult) -> None:
    data = result.data
    console.print(f"[bold]Trained {escape(result.model)}[/]  run [cyan]{result.run_id}[/]  ({result.duration:.1f} s)")
    console.print(
        f"  data      {escape(data.uri)}  {data.rows} rows  sha256 {data.sha256[:12]}"
        f"  (held out {result.split['test_rows']}, {result.split['method']} split, seed {result.split['seed']})"
    )
    for warning in result.warnings:
        console.print(f"  [yellow]WARN[/]      {escape(warning.summary())} (training goes on)")
    console.print(f"  estimator {escape(result.estimator)}")
    console.print(f"  params    {escape(_params_text(result.params))}")
    if result.grid:
        console.print(
            f"  grid      {len(result.grid)} candidates; best by cv: {escape(_params_text(_best(result.grid)))}"
        )
    console.print()
    console.print(_metrics_table(result.metrics))
    if result.latency:
        console.print(
            f"  [dim]latency: {result.latency['rows']} single rows through the service's predictor, "
            f"{escape(result.latency['predictor'])}[/]"
        )
    console.print()
    for gate in result.gates:
        mark = "[green]pass[/]" if gate.passed else "[red]FAIL[/]"
        console.print(f"  {mark}  {escape(gate.gate)}  [dim](measured {number(gate.value)})[/]")
    console.print()
    if result.comparison is not None:
        _render_comparison(console, result.comparison)
    _render_outcome(console, result)


def _render_outcome(console: Console, result: TrainResult) -> None:
    snapshot = result.data_snapshot
    if snapshot is not None and result.version is not None:
        how = "stored in" if snapshot.new else "already in"
        console.print(
            f"  data snapshot sha256 {snapshot.sha256[:12]} ({snapshot.size:,} bytes) {how} {escape(snapshot.store)}"
        )
    if result.version is not None:
        commit = f"  commit {result.commit[:12]}" if result.commit else "  (not committed)"
        console.print(f"[green]Registered {escape(result.model)}@{result.version}[/]{commit}")
        console.print("\nNext steps:")
        console.print(f"  mlopsctl registry show {escape(result.model)}@{result.version}")
        console.print(f"  mlopsctl serve {escape(result.model)}@{result.version}")
        console.print(f"  mlopsctl promote {escape(result.model)}@{result.version} --env staging")
    elif not result.gates_passed:
        failed = ", ".join(gate.gate for gate in result.gates if not gate.passed)
        console.print(f"[red]Not registered:[/] gates failed ({escape(failed)})")
        console.print(f"  compare with earlier runs: mlopsctl runs list {escape(result.model)}")
    elif result.refused is not None:
        console.print(f"[red]Not registered:[/] {escape(result.refused)}")
        console.print(f"  the run is tracked as refused: mlopsctl runs show {result.run_id}")
        spec_file = f"models/{escape(result.model)}/model.yaml"
        console.print(f"  to allow a smaller regression, raise evaluation.champion_margin in {spec_file}")
    else:
        console.print(f"[yellow]Not registered[/] (--no-register); the run is tracked as {result.run_id}")
        console.print(f"  mlopsctl runs show {result.run_id}")


def _render_comparison(console: Console, comparison: Comparison) -> None:
    """The new metrics against each environment's stable version, then the champion's verdict."""
    better = "higher" if comparison.higher_is_better else "lower"
    if comparison.note is not None:
        console.print(f"  [dim]{escape(comparison.note)}[/]")
    elif not comparison.placements:
        console.print(f"  no environment runs {escape(comparison.model)} yet: nothing to compare with")
    else:
        console.print(
            f"Against what each environment runs (primary metric {escape(comparison.primary)}, {better} is better)"
        )
        console.print(_comparison_table(comparison))
        for placement in comparison.placements:
            if placement.problem is not None:
                where = f"{placement.env} {comparison.model}@{placement.version}"
                console.print(f"  [dim]{escape(where)}: {escape(placement.problem)}[/]")
    champion = comparison.champion
    if champion is not None and not champion.refused:  # a refusal is the outcome, printed below
        console.print(f"  champion {escape(champion.env)}: {escape(champion.message)}")
    console.print()


def _comparison_table(comparison: Comparison) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 2))
    table.add_column("metric")
    table.add_column(f"new ({escape(comparison.new_ref)})", justify="right")
    for placement in comparison.placements:
        candidate = f", {placement.candidate} not compared" if placement.candidate else ""
        table.add_column(
            f"{escape(placement.env)} {escape(comparison.model)}@{placement.version}{escape(candidate)}",
            justify="right",
        )
        table.add_column("difference", justify="right")
    for name, value in comparison.new_metrics.items():
        cells = [escape(name), number(value)]
        for placement in comparison.placements:
            running = (placement.metrics or {}).get(name)
            cells += [number(running), _signed(comparison.differences[placement.env].get(name))]
        table.add_row(*cells)
    return table


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.{DIGITS}f}" if abs(value) < 1e6 else f"{value:+.4g}"


def _metrics_table(metrics: dict[str, float]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 2))
    table.add_column("metric (held out)")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(escape(name), number(value))
    return table


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in params.items()) or "(defaults)"


def _best(grid: list[dict[str, Any]]) -> dict[str, Any]:
    best: dict[str, Any] = min(grid, key=lambda candidate: candidate["rank"])["params"]
    return best


def _render_reproduce(console: Console, result: ReproduceResult) -> None:
    if result.bundle is not None:
        console.print(
            f"[bold]Reproduced {escape(result.model)}@{result.version}[/] from the bundle {escape(result.bundle)}"
            f" (spec commit {result.spec_commit[:12]}; every file matches manifest.json)  ({result.duration:.1f} s)"
        )
    else:
        console.print(
            f"[bold]Reproduced {escape(result.model)}@{result.version}[/] from commit {result.spec_commit[:12]}"
            f"  run [cyan]{result.run_id}[/]  ({result.duration:.1f} s)"
        )
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 2))
    for column in ("metric", "recorded", "reproduced", "difference", ""):
        table.add_column(column, justify="left" if column in ("metric", "") else "right")
    for check in result.metrics:
        verdict = "[green]exact[/]" if check.exact else "[green]match[/]" if check.matches else "[red]DIFFERS[/]"
        difference = "0" if check.exact else f"{check.difference:.3g}" if check.difference is not None else "-"
        table.add_row(escape(check.name), number(check.recorded), number(check.reproduced), difference, verdict)
    console.print(table)
    if result.data_note is not None:
        console.print(f"  data:        {escape(result.data_note)}")
    _render_artifact(console, result)
    for difference in result.environment_differences:
        console.print(f"  environment: {escape(difference)}")
    if result.metrics_match:
        console.print("[green]Metrics match.[/]")
    else:
        console.print("[red]Metrics differ.[/] Check the environment in the record against this one.")


def _render_artifact(console: Console, result: ReproduceResult) -> None:
    if result.predictions_match:
        spread = result.max_probability_difference
        detail = f"; largest probability difference {spread:.3g}" if spread is not None else ""
        console.print(f"  predictions: identical on {result.rows_compared} held-out rows{detail}")
    else:
        console.print(
            f"  predictions: [red]{result.predictions_differ} of {result.rows_compared} held-out rows differ[/]"
        )
    if result.artifact_matches:
        console.print(f"  artifact:    identical bytes (sha256 {result.artifact_recorded[:12]})")
    else:
        console.print(
            f"  artifact:    different bytes (recorded sha256 {result.artifact_recorded[:12]}, "
            f"new {result.artifact_reproduced[:12]}); the predictions above are the stronger check"
        )
