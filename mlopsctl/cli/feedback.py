"""``mlopsctl feedback FILE`` (labels to a running service) and ``mlopsctl explain REQUEST_ID``."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import ExitCode
from mlopsctl.monitor.api import FeedbackSummary, send_labels
from mlopsctl.serve.api import Explanation, explain as explain_request

SHOWN_REJECTIONS = 20


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--env", default=None, help="Environment whose service gets the labels.")
@click.option("--model", default=None, help="Model (needed when the environment serves several).")
@click.option("--url", default=None, help="The service's URL instead (e.g. what mlopsctl serve printed).")
@global_options
def feedback(file: Path, env: str | None, model: str | None, url: str | None) -> int:
    """Send ground-truth labels (CSV id,label[,row] or JSON lines) for logged predictions.

    Exit 0 when every label was accepted, 1 when some were rejected (each named with its line),
    3 when the service does not answer.
    """
    opts = options()
    summary = send_labels(opts.repo_root(), file, env=env, model=model, url=url)
    opts.emit(summary.to_dict(), lambda console: _render_feedback(console, summary))
    return int(ExitCode.PROBLEMS if summary.rejected else ExitCode.OK)


def _render_feedback(console: Console, summary: FeedbackSummary) -> None:
    console.print(
        f"{summary.accepted} of {summary.sent} labels accepted by {escape(summary.url)}"
        f"{f', {len(summary.rejected)} rejected' if summary.rejected else ''}"
    )
    if not summary.rejected:
        return
    table = Table("line", "id", "status", "reason", box=None)
    for rejected in summary.rejected[:SHOWN_REJECTIONS]:
        table.add_row(str(rejected.line), escape(str(rejected.id)), str(rejected.status), escape(rejected.reason))
    console.print(table)
    more = len(summary.rejected) - SHOWN_REJECTIONS
    if more > 0:
        console.print(f"... and {more} more (-o json lists them all)")


@click.command()
@click.argument("request_id")
@click.option("--env", default=None, help="Environment to search. Default: every log of this repository.")
@global_options
def explain(request_id: str, env: str | None) -> int:
    """Which model answered REQUEST_ID, with its inputs and output, re-run to show the same answer.

    Exit 0 on MATCH, 1 when the re-run answers DIFFERENT or the id is unknown.
    """
    opts = options()
    found = explain_request(opts.repo_root(), request_id, env)
    opts.emit(found.to_dict(), lambda console: _render_explanation(console, found))
    return int(ExitCode.OK if found.matches else ExitCode.PROBLEMS)


def _render_explanation(console: Console, found: Explanation) -> None:
    when = datetime.datetime.fromtimestamp(found.time, datetime.UTC).isoformat(timespec="seconds")
    console.print(f"request {escape(found.request_id)} at {when}")
    console.print(f"  answered by  {escape(found.model)}@{found.version} ({escape(found.role)})")
    console.print(f"  spec commit  {escape(found.spec_commit)}")
    data = found.data
    console.print(f"  data         {escape(str(data.get('uri')))} sha256:{escape(str(data.get('sha256')))}")
    console.print(f"  artifact     sha256:{escape(found.artifact_sha256)}")
    console.print(f"  inputs       {escape(json.dumps(found.inputs))}", soft_wrap=True)
    console.print(f"  output       {escape(json.dumps(found.outputs))}", soft_wrap=True)
    if found.probabilities is not None:
        console.print(f"  probability  {escape(json.dumps(found.probabilities))}", soft_wrap=True)
    console.print(f"  re-run       {escape(json.dumps(found.rerun_outputs))}", soft_wrap=True)
    if found.matches:
        console.print("[green]MATCH[/]: the archived artifact gives the same answer")
        return
    console.print("[red]DIFFERENT[/]:")
    for difference in found.differences:
        console.print(f"  {escape(difference)}", soft_wrap=True)


COMMANDS = [feedback, explain]
