"""GitOps commands: promote, rollback, archive (commits and pull requests) and history (the audit log)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.cli.common import global_options, options
from mlopsctl.gitops import api
from mlopsctl.gitops.history import HistoryEntry, read_history
from mlopsctl.gitops.publish import Outcome, PlanProvider
from mlopsctl.spec.models import Environment

_MESSAGE = click.option("--message", "-m", help="Why: added to the commit message (and the archive entry).")
_DIRECT = click.option(
    "--direct", is_flag=True, help="Commit on the current branch instead of a new pull-request branch."
)
_NO_PUSH = click.option("--no-push", is_flag=True, help="Commit only; print the push command instead of pushing.")


def plan_provider(root: Path) -> PlanProvider:
    """The plan in pull-request bodies, from the deploy module (imported only when a request is opened)."""

    def provide(env: str, desired: Environment) -> str:
        from mlopsctl.deploy.api import markdown_plan

        return markdown_plan(root)(env, desired)

    return provide


@click.command()
@click.argument("ref", metavar="MODEL@VERSION")
@click.option("--env", "env", required=True, help="Environment to promote to (environments/ENV.yaml).")
@click.option(
    "--strategy",
    type=click.Choice(["replace", "canary", "shadow"]),
    help="replace (default), canary (with --weight) or shadow. Default: canary when --weight is given.",
)
@click.option("--weight", type=int, help="Percent of requests a canary answers (1 to the spec's max_canary_weight).")
@_DIRECT
@_NO_PUSH
@_MESSAGE
@global_options
def promote(
    ref: str, env: str, strategy: str | None, weight: int | None, direct: bool, no_push: bool, message: str | None
) -> int:
    """Promote MODEL@VERSION to an environment: policy checks, then a commit on a branch with a pull request."""
    opts = options()
    root = opts.repo_root()
    outcome = api.promote(
        root,
        ref,
        env,
        strategy=strategy,
        weight=weight,
        direct=direct,
        push=not no_push,
        message=message,
        plan=plan_provider(root),
    )
    opts.emit(outcome.to_dict(), _render_outcome(outcome))
    return 0


@click.command()
@click.argument("model")
@click.option("--env", "env", required=True, help="Environment to roll back (environments/ENV.yaml).")
@click.option("--to", "to", type=int, help="Version to return to (it must have run there). Default: the one before.")
@_DIRECT
@_NO_PUSH
@_MESSAGE
@global_options
def rollback(model: str, env: str, to: int | None, direct: bool, no_push: bool, message: str | None) -> int:
    """Return MODEL in an environment to the version that ran before (or drop its canary or shadow)."""
    opts = options()
    root = opts.repo_root()
    outcome = api.rollback(
        root, model, env, to=to, direct=direct, push=not no_push, message=message, plan=plan_provider(root)
    )
    opts.emit(outcome.to_dict(), _render_outcome(outcome))
    return 0


@click.command()
@click.argument("ref", metavar="MODEL@VERSION")
@_DIRECT
@_NO_PUSH
@_MESSAGE
@global_options
def archive(ref: str, direct: bool, no_push: bool, message: str | None) -> int:
    """Archive MODEL@VERSION: kept for lineage, never deployed again (refused while it runs anywhere)."""
    opts = options()
    outcome = api.archive(opts.repo_root(), ref, direct=direct, push=not no_push, message=message)
    opts.emit(outcome.to_dict(), _render_outcome(outcome))
    return 0


@click.command()
@click.argument("model", required=False)
@click.option("--env", "env", help="Only this environment.")
@click.option("--limit", "-n", type=click.IntRange(min=0), default=50, show_default=True, help="Newest N; 0 for all.")
@global_options
def history(model: str | None, env: str | None, limit: int) -> int:
    """The audit log: who promoted, rolled back or archived what, when, with its gate results."""
    opts = options()
    entries = read_history(opts.repo_root(), env=env, model=model, limit=limit or None)
    opts.emit({"entries": [entry.to_dict() for entry in entries]}, lambda console: _render_history(console, entries))
    return 0


COMMANDS = [promote, rollback, archive, history]


# --------------------------------------------------------------------------- rendering


def _render_outcome(outcome: Outcome) -> Callable[[Console], None]:
    def render(console: Console) -> None:
        change = outcome.change
        where = "on" if outcome.direct else "on the new branch"
        console.print(f"[green]{escape(change.title)}[/]", soft_wrap=True)
        line = f"  commit {outcome.commit[:12]} {where} {escape(outcome.branch)} ({escape(change.path)})"
        console.print(line, soft_wrap=True)
        if outcome.pushed:
            retried = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
            console.print(f"  pushed to {escape(outcome.remote)}{retried}", soft_wrap=True)
        for step in outcome.next_steps:
            console.print(escape(step), soft_wrap=True)

    return render


def _render_history(console: Console, entries: list[HistoryEntry]) -> None:
    if not entries:
        console.print("no promotions, rollbacks or archives in the history yet")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("when", "who", "action", "model", "version", "env", "strategy", "before", "gates", "commit"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.date[:16].replace("T", " "),
            escape(e.author),
            e.action,
            escape(e.model),
            _version(e),
            escape(e.env or ""),
            escape(_strategy(e)),
            escape(e.previous or ""),
            _gates(e),
            e.commit[:10],
        )
    console.print(table)
    _print_notes(console, entries)


def _version(entry: HistoryEntry) -> str:
    """``v3``; ``?`` marks a row with a trailer that could not be read (said under the table)."""
    shown = "" if entry.version is None else f"v{entry.version}"
    return f"{shown} ?".lstrip() if entry.note else shown


def _print_notes(console: Console, entries: list[HistoryEntry]) -> None:
    """One line per commit whose trailers could not all be read: long, so not squeezed into a cell."""
    for entry in entries:
        if entry.note:
            console.print(f"? {entry.commit[:10]}: ({escape(entry.note)})", soft_wrap=True)


def _strategy(entry: HistoryEntry) -> str:
    if entry.strategy == "canary" and entry.weight is not None:
        return f"canary {entry.weight}%"
    return entry.strategy or ""


def _gates(entry: HistoryEntry) -> str:
    if entry.gates_passed is None:
        return "[dim]unknown[/]"
    if entry.gates_passed:
        return f"[green]passed[/] ({len(entry.gates)})"
    failed = ", ".join(g.gate for g in entry.gates if not g.passed)
    return f"[red]failed[/] {escape(failed)}"
