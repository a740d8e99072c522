"""GitOps commands: promote, rollback, archive, retire (commits and pull requests) and history (the audit log).

``promote --dry-run`` and ``rollback --dry-run`` print :class:`mlopsctl.gitops.api.Preview`, what the
dashboard's modals show, and write nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import ExitCode, UsageError
from mlopsctl.gitops import api

if TYPE_CHECKING:
    from mlopsctl.registry.api import DeployedAt, DeployedModel, SetBy
    from mlopsctl.train.api import ExportedBundle

_MESSAGE = click.option("--message", "-m", help="Why: added to the commit message (and the archive entry).")
_DIRECT = click.option(
    "--direct", is_flag=True, help="Commit on the current branch instead of a new pull-request branch."
)
_NO_PUSH = click.option("--no-push", is_flag=True, help="Commit only; print the push command instead of pushing.")
_DRY_RUN = click.option(
    "--dry-run",
    is_flag=True,
    help="Show the gate checks and the diff, write nothing; exit 1 when policy refuses.",
)


@click.command()
@click.argument("ref", metavar="MODEL@VERSION")
@click.option("--env", "env", required=True, help="Environment to promote to (environments/ENV.yaml).")
@click.option(
    "--strategy",
    type=click.Choice(["replace", "canary", "shadow"]),
    help="replace (default), canary (with --weight) or shadow. Default: canary when --weight is given.",
)
@click.option("--weight", type=int, help="Percent of requests a canary answers (1 to the spec's max_canary_weight).")
@click.option(
    "--require-evidence",
    is_flag=True,
    help="Refuse unless the version's live evidence as a shadow or canary can be read from Prometheus "
    "(exit 1 when it never ran as one, 2 when no Prometheus is configured, 3 when it is unreachable); "
    "nothing is committed then.",
)
@_DIRECT
@_NO_PUSH
@_MESSAGE
@_DRY_RUN
@global_options
def promote(
    ref: str,
    env: str,
    strategy: str | None,
    weight: int | None,
    require_evidence: bool,
    direct: bool,
    no_push: bool,
    message: str | None,
    dry_run: bool,
) -> int:
    """Promote MODEL@VERSION to an environment: policy checks, then a commit on a branch with a pull request."""
    opts = options()
    root = opts.repo_root()
    if dry_run:
        return _emit_preview(api.preview_promote(root, ref, env, strategy, weight, direct))
    outcome = api.promote(
        root,
        ref,
        env,
        strategy=strategy,
        weight=weight,
        direct=direct,
        push=not no_push,
        message=message,
        require_evidence=require_evidence,
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
@_DRY_RUN
@global_options
def rollback(
    model: str, env: str, to: int | None, direct: bool, no_push: bool, message: str | None, dry_run: bool
) -> int:
    """Return MODEL in an environment to the version that ran before (or drop its canary or shadow)."""
    opts = options()
    root = opts.repo_root()
    if dry_run:
        return _emit_preview(api.preview_rollback(root, model, env, to, direct))
    outcome = api.rollback(root, model, env, to=to, direct=direct, push=not no_push, message=message)
    opts.emit(outcome.to_dict(), _render_outcome(outcome))
    return 0


@click.command()
@click.argument("ref", metavar="MODEL@VERSION")
@_DIRECT
@_NO_PUSH
@_MESSAGE
@click.option(
    "--export",
    "export",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Write the version's bundle into DIR instead (spec at its commit, record, artifact, data, environment "
    "lock, image digests, manifest.json); archives nothing.",
)
@global_options
def archive(ref: str, direct: bool, no_push: bool, message: str | None, export: Path | None) -> int:
    """Archive MODEL@VERSION: kept for lineage, never deployed again (refused while it runs anywhere).

    With --export DIR, write MODEL@VERSION's bundle for an auditor instead: everything it came from,
    with a manifest of sha256s; mlopsctl reproduce --bundle DIR trains it again from the bundle alone.
    """
    opts = options()
    if export is not None:
        return _export(ref, export, direct or no_push or message is not None)
    outcome = api.archive(opts.repo_root(), ref, direct=direct, push=not no_push, message=message)
    opts.emit(outcome.to_dict(), _render_outcome(outcome))
    return 0


def _export(ref: str, folder: Path, archive_options: bool) -> int:
    if archive_options:
        raise UsageError(
            "--export writes a bundle and archives nothing", hint="drop --direct, --no-push and --message, or --export"
        )
    from mlopsctl.train.api import export_bundle  # scikit-learn and pandas: only when a bundle is written

    opts = options()
    bundle = export_bundle(opts.open(), ref, folder)
    opts.emit(bundle.to_dict(), lambda console: _render_bundle(console, bundle))
    return int(ExitCode.OK)


def _render_bundle(console: Console, bundle: ExportedBundle) -> None:
    console.print(f"[bold]Exported {escape(bundle.ref)}[/] to {escape(str(bundle.folder))}")
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 2))
    for column in ("file", "bytes", "sha256"):
        table.add_column(column, justify="right" if column == "bytes" else "left")
    for item in bundle.files:
        table.add_row(escape(item.path), f"{item.size:,}", item.sha256[:12])
    console.print(table)
    images = ", ".join(bundle.images) if bundle.images else "none pushed"
    console.print(f"  images: {escape(images)}")
    console.print(f"Check it anywhere with: mlopsctl reproduce --bundle {escape(str(bundle.folder))}")


@click.command()
@click.argument("ref", metavar="MODEL[@VERSION]")
@click.option(
    "--direct/--pr",
    default=False,
    help="Commit on the current branch, or (--pr, the default) on a new branch with a pull request.",
)
@_NO_PUSH
@_MESSAGE
@click.option("--dry-run", is_flag=True, help="Show every file's diff, write nothing; exit 1 when policy refuses.")
@global_options
def retire(ref: str, direct: bool, no_push: bool, message: str | None, dry_run: bool) -> int:
    """Retire MODEL (every version) or MODEL@VERSION: out of every environment and archived, in one commit."""
    opts = options()
    root = opts.repo_root()
    if dry_run:
        return _emit_preview(api.preview_retire(root, ref, direct))
    outcome = api.retire(root, ref, direct=direct, push=not no_push, message=message)
    opts.emit(outcome.to_dict() | {"envs": list(outcome.change.envs), "archived": list(outcome.change.archived)},
              _render_outcome(outcome))  # fmt: skip
    return 0


@click.command()
@click.argument("model", required=False)
@click.option("--env", "env", help="Only this environment.")
@click.option("--limit", "-n", type=click.IntRange(min=0), default=50, show_default=True, help="Newest N; 0 for all.")
@click.option(
    "--at",
    "at",
    metavar="TIME",
    help="Instead of the log: what ENV ran at TIME, from its file on the main branch then. TIME is ISO 8601 "
    "(2026-05-01, 2026-05-01T14:30, 2026-05-01T14:30+02:00; no zone: read as UTC; a date alone: its 00:00 UTC) "
    "or an age (2h ago, 3d). Needs --env.",
)
@global_options
def history(model: str | None, env: str | None, limit: int, at: str | None) -> int:
    """The audit log: who promoted, rolled back, archived, retired, reverted or edited what, when, with gate results.

    With --at TIME --env ENV: what ENV ran at TIME (each model's versions, the commit that set them, a hand
    edit said as such, and the versions' artifact and data digests and spec commit); exit 1 when ENV did
    not exist then, 2 when TIME does not read or is in the future.
    """
    opts = options()
    if at is not None:
        return _history_at(env, at, model)
    entries = api.history(opts.repo_root(), env=env, model=model, limit=limit or None)
    opts.emit({"entries": [entry.to_dict() for entry in entries]}, lambda console: _render_history(console, entries))
    return 0


def _history_at(env: str | None, at: str, model: str | None) -> int:
    if env is None:
        raise UsageError("--at needs --env: which environment's file to read", hint="e.g. --at 2h ago --env production")
    from mlopsctl.registry.api import deployed_at  # only when asked: the log alone stays quick

    opts = options()
    found = deployed_at(opts.repo_root(), env, at, model)
    opts.emit(found.to_dict(), lambda console: _render_deployed_at(console, found))
    return int(ExitCode.OK)


COMMANDS = [promote, rollback, archive, retire, history]


# --------------------------------------------------------------------------- rendering


def _emit_preview(preview: api.Preview) -> int:
    """The preview for people or scripts; exit 1 when policy refuses, as the real command would."""
    options().emit(preview.to_dict(), lambda console: _render_preview(console, preview))
    return int(ExitCode.OK if preview.allowed else ExitCode.PROBLEMS)


def _render_preview(console: Console, preview: api.Preview) -> None:
    if preview.gates:
        console.print("[bold]Gate checks[/]")
    for gate in preview.gates:
        mark, style = ("✓", "green") if gate.passed else ("✗", "red")
        console.print(f"[{style}]  {mark} {escape(gate.gate)}  (measured {_measured(gate.value)})[/]", soft_wrap=True)
    if preview.refused is not None:
        console.print(f"[red]✗ {escape(preview.refused)}[/]", soft_wrap=True)
        if preview.hint:
            console.print(f"[red]hint: {escape(preview.hint)}[/]", soft_wrap=True)
        return
    console.print(f"\n[bold]{escape(preview.title)}\nCommit {escape(preview.destination)}[/]\n", soft_wrap=True)
    for line in preview.diff.splitlines():
        console.print(f"[{_diff_style(line)}]{escape(line)}[/]" if _diff_style(line) else escape(line), soft_wrap=True)
    console.print("[dim]dry run: nothing was written[/]")


def _measured(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _diff_style(line: str) -> str:
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return "cyan" if line.startswith("@@") else ""


def _render_outcome(outcome: api.Outcome) -> Callable[[Console], None]:
    def render(console: Console) -> None:
        change = outcome.change
        where = "on" if outcome.direct else "on the new branch"
        console.print(f"[green]{escape(change.title)}[/]", soft_wrap=True)
        line = f"  commit {outcome.commit[:12]} {where} {escape(outcome.branch)} ({escape(', '.join(change.files))})"
        console.print(line, soft_wrap=True)
        if outcome.pushed:
            retried = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
            console.print(f"  pushed to {escape(outcome.remote)}{retried}", soft_wrap=True)
        for step in outcome.next_steps:
            console.print(escape(step), soft_wrap=True)

    return render


def _render_history(console: Console, entries: list[api.HistoryEntry]) -> None:
    if not entries:
        console.print("no promotions, rollbacks or archives in the history yet")  # nor edits of environments/
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("when", "who", "action", "model", "version", "env", "strategy", "before", "gates", "commit"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.date[:16].replace("T", " "),
            escape(e.author),
            escape(_action(e)),
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


def _action(entry: api.HistoryEntry) -> str:
    """The action, or what a rollout commit did: ``rollout step 2/4`` (its weight is in the strategy column),
    ``rollout promoted``, ``rollout rolled back`` (its reason, long, in a line under the table)."""
    if entry.rollout is None:
        return entry.action
    return entry.rollout.split(":", 1)[0]


def _version(entry: api.HistoryEntry) -> str:
    """``v3``; ``removed`` when an edit took the model out; ``?`` marks a row that could not all be read."""
    shown = "" if entry.version is None else f"v{entry.version}"
    if entry.change in ("removed", "file"):
        shown = entry.change
    elif entry.action == "retire" and entry.version is None:
        shown = "all"
    return f"{shown} ?".lstrip() if entry.note else shown


def _print_notes(console: Console, entries: list[api.HistoryEntry]) -> None:
    """One line per revert (what it reverts), per rolled-back rollout (why) and per commit that could not all be
    read: long, so not in a cell."""
    reverts = {entry.commit: entry for entry in entries if entry.reverts}
    for entry in reverts.values():
        named = f' "{entry.reverted}"' if entry.reverted else " (not in this repository)"
        console.print(
            f"{entry.commit[:10]} reverts {escape((entry.reverts or '')[:10])}{escape(named)}", soft_wrap=True
        )
    for entry in entries:
        if entry.rollout_decision == "rollback" and entry.rollout and ":" in entry.rollout:
            console.print(f"{entry.commit[:10]} {escape(entry.rollout)}", soft_wrap=True)
    for entry in entries:
        if entry.note:
            console.print(f"? {entry.commit[:10]}: ({escape(entry.note)})", soft_wrap=True)


def _strategy(entry: api.HistoryEntry) -> str:
    if entry.strategy == "canary" and entry.weight is not None:
        return f"canary {entry.weight}%"
    return entry.strategy or ""


def _gates(entry: api.HistoryEntry) -> str:
    if entry.gates_passed is None:
        return "[dim]unknown[/]"
    if entry.gates_passed:
        return f"[green]passed[/] ({len(entry.gates)})"
    failed = ", ".join(g.gate for g in entry.gates if not g.passed)
    return f"[red]failed[/] {escape(failed)}"


def _render_deployed_at(console: Console, found: DeployedAt) -> None:
    zone = " (no zone given: read as UTC)" if found.assumed_utc else ""
    console.print(f"[bold]{escape(found.env)} at {found.at}[/]{zone}", soft_wrap=True)
    where = f"environments/{escape(found.env)}.yaml on {escape(found.branch)} at {found.commit[:10]}"
    console.print(f"  {where} (committed {found.commit_date})", soft_wrap=True)
    if not found.models:
        console.print("  nothing was deployed")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("model", "version", "strategy", "candidate", "set by", "who", "when", "how"):
        table.add_column(column)
    for model in found.models:
        table.add_row(*_deployed_cells(model))
    console.print(table)
    for model in found.models:
        _print_records(console, model)


def _deployed_cells(model: DeployedModel) -> list[str]:
    strategy = f"canary {model.weight}%" if model.strategy == "canary" else model.strategy
    candidate = "" if model.candidate is None else f"v{model.candidate}"
    set_by = model.set_by
    if set_by is None:
        return [escape(model.model), f"v{model.version}", strategy, candidate, "?", "", "", ""]
    how = f"[yellow]{set_by.how}[/]" if set_by.hand_edit else escape(set_by.how)
    when = set_by.date[:16].replace("T", " ")
    return [
        escape(model.model),
        f"v{model.version}",
        strategy,
        candidate,
        set_by.commit[:10],
        escape(set_by.author),
        when,
        how,
    ]


def _print_records(console: Console, model: DeployedModel) -> None:
    """Each version's digests and spec commit, full length (an auditor compares them), then the notes."""
    if model.set_by is not None:
        _print_set_by(console, model.model, model.set_by)
    for facts in model.records:
        console.print(f"  v{facts.version} artifact sha256 {facts.artifact_sha256}", soft_wrap=True)
        console.print(
            f"     data sha256 {facts.data_sha256} ({facts.data_rows:,} rows, {escape(facts.data_uri)})", soft_wrap=True
        )
        console.print(f"     spec commit {escape(facts.spec_commit)}", soft_wrap=True)
    for note in model.notes:
        console.print(f"  ? {escape(note)}", soft_wrap=True)


def _print_set_by(console: Console, model: str, set_by: SetBy) -> None:
    merged = f", merged in {set_by.merged_in[:10]} ({set_by.merged_at})" if set_by.merged_in else ""
    console.print(f'{escape(model)}: set by {set_by.commit[:10]} "{escape(set_by.subject)}"{merged}', soft_wrap=True)
