"""``mlopsctl data``: data set commands (quality checks and fingerprints, and data pull)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import ExitCode

if TYPE_CHECKING:  # the core's pandas and pyarrow load only when a data command runs
    from mlopsctl.data.api import CheckResult, DataCheck
    from mlopsctl.registry.api import PulledData

_STATUS_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red"}


@click.group("data")
def data_group() -> None:
    """Data sets: quality checks on the four dimensions, fingerprints, and the data versions were trained on."""


@data_group.command("check", short_help="Check a model's data on the four quality dimensions; print its fingerprint.")
@click.argument("model")
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    help="Check this CSV or Parquet file instead of the spec's data.source.",
)
@global_options
def check(model: str, data_path: Path | None) -> int:
    """Check MODEL's data against its spec: accuracy, completeness, consistency, timeliness.

    Prints the data set's fingerprint (content sha256, schema hash, rows, columns) and one line per
    expectation; exits 1 when any fails. Columns the spec does not declare are reported, not failed;
    a column holding a single value is a warning; a label with a single class fails.
    """
    from mlopsctl.data.api import check_model_data  # pandas: only when a data command runs

    opts = options()
    outcome = check_model_data(opts.repo_root(), model, data_path)
    opts.emit(outcome.to_dict(), lambda console: render_check(console, outcome))
    return int(ExitCode.OK if outcome.report.passed else ExitCode.PROBLEMS)


def render_check(console: Console, outcome: DataCheck) -> None:
    """The fingerprint, a table grouped by dimension, and a verdict line."""
    fp = outcome.dataset.fingerprint
    console.print(f"[bold]{escape(outcome.model)}[/] data [bold]{escape(fp.uri)}[/]")
    console.print(f"  sha256  {fp.sha256}")
    console.print(f"  schema  {fp.schema_sha256}")
    console.print(f"  rows {fp.rows}, columns {fp.columns}")
    console.print()
    console.print(_table(outcome))
    console.print(_verdict(outcome))


def _table(outcome: DataCheck) -> Table:
    """One section per dimension, named in its first row, so the table stays narrow."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("check", no_wrap=True)
    table.add_column("column", no_wrap=True)
    table.add_column("observed", ratio=1, overflow="fold")
    table.add_column("expected", ratio=1, overflow="fold")
    table.add_column("result", no_wrap=True)
    groups = outcome.report.by_dimension()
    for index, (dimension, results) in enumerate(groups.items()):
        table.add_row(f"[bold cyan]{dimension}[/]", "", "", "", "")
        for item in results:
            table.add_row(*_cells(item))
        if index < len(groups) - 1:
            table.add_section()
    return table


def _cells(item: CheckResult) -> list[str]:
    status = item.status
    return [
        f"  {item.check}",
        escape(item.column or "-"),
        escape(item.observed),
        escape(item.expected),
        f"[{_STATUS_STYLE[status]}]{status}[/]",
    ]


def _verdict(outcome: DataCheck) -> str:
    report = outcome.report
    failed, warned, total = len(report.failures()), len(report.warnings()), len(report.results)
    warnings = f", {warned} warning{'s' if warned != 1 else ''}" if warned else ""
    if failed:
        return f"[bold red]FAILED[/]: {failed} of {total} checks failed{warnings}"
    return f"[green]PASSED[/]: {total} checks{warnings}"


@data_group.command("pull", short_help="Put the exact data a version was trained on back in place.")
@click.argument("ref", metavar="MODEL@VERSION")
@click.option(
    "--to",
    "target",
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Write the data here instead of at the record's data.uri (-o/--output is the output format).",
)
@global_options
def pull(ref: str, target: Path | None) -> int:
    """Fetch MODEL@VERSION's data snapshot from the artifact store and write it at the record's data.uri.

    The snapshot is checked against the record's sha256 before anything is written, and written
    atomically; a file that already holds those bytes is left alone. Exits 1 when the version or its
    snapshot is unknown, 3 when the store does not answer.
    """
    from mlopsctl.registry.api import pull_data

    opts = options()
    pulled = pull_data(opts.open(), ref, target)
    opts.emit(pulled.to_dict(), lambda console: render_pull(console, pulled))
    return int(ExitCode.OK)


def render_pull(console: Console, pulled: PulledData) -> None:
    digest = f"sha256 {pulled.sha256[:12]}"
    if pulled.already:
        console.print(f"{escape(pulled.path)} already holds {escape(pulled.ref)}'s data ({digest}); nothing to do")
        return
    console.print(
        f"Wrote {escape(pulled.path)}: {escape(pulled.ref)}'s data, {pulled.size:,} bytes, {digest}, "
        f"from {escape(pulled.store)}"
    )


COMMANDS = [data_group]
