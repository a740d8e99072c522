"""``mlopsctl retrain MODEL [--check]``: the spec's retraining triggers, and a retrained candidate proposed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import ExitCode

if TYPE_CHECKING:
    from mlopsctl.retrain.api import RetrainCheck, RetrainOutcome

EXIT_HELP = """
\b
Exit codes:
  --check   0 retraining not needed, 1 needed (a trigger fired: CI branches on it),
            3 the metrics source does not answer, 2 usage.
  retrain   0 not needed, a version was already trained on the same fresh
            data, or a candidate was registered and proposed;
            1 a candidate was trained but not proposed (worse than the running version
            beyond evaluation.champion_margin, gates failed) or the fresh data fails
            its quality checks; 3 unreachable; 2 usage.
"""


@click.command(epilog=EXIT_HELP)
@click.argument("model")
@click.option("--check", "check_only", is_flag=True, help="Only say which triggers fire and why; change nothing.")
@click.option(
    "--env",
    default=None,
    help="Environment whose running version is the baseline. Default: production when it runs MODEL, "
    "else retraining.promote_to.",
)
@click.option("--force", is_flag=True, help="Retrain even when no trigger fires.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Change one spec field for the candidate, as train --set does (repeatable).",
)
@click.option("--no-push", is_flag=True, help="Commit the promotion on its branch but do not push it.")
@global_options
def retrain(
    model: str, check_only: bool, env: str | None, force: bool, overrides: tuple[str, ...], no_push: bool
) -> int:
    """Retrain MODEL when the spec's retraining triggers fire, and propose the candidate.

    Triggers (retraining:): drift CRIT (on_drift), live performance CRIT (on_performance), new data
    (data.source changed since the running version) and labelled traffic of the running version.
    retraining.schedule is shown, not judged: CI's scheduler runs retrain then. Exit 1 on --check
    means "needed" rather than failure so a scheduled job can branch on it (retrain --check || retrain).
    The candidate is trained on data.source plus the environment's labelled traffic, compared with
    the running version on the same fresh hold-out, and proposed to retraining.promote_to as a pull
    request when not worse by more than evaluation.champion_margin.
    """
    from mlopsctl.retrain.api import check, retrain as run_retrain

    opts = options()
    if check_only:
        found = check(opts.repo_root(), model, env)
        opts.emit(found.to_dict(), lambda console: _render_check(console, found))
        return int(ExitCode.PROBLEMS if found.needed else ExitCode.OK)
    outcome = run_retrain(opts.repo_root(), model, env, force=force, overrides=overrides, push=not no_push)
    opts.emit(outcome.to_dict(), lambda console: _render_outcome(console, outcome))
    return int(ExitCode.PROBLEMS if outcome.attempted and not outcome.proposed else ExitCode.OK)


def _render_check(console: Console, found: RetrainCheck) -> None:
    baseline = found.baseline
    console.print(
        f"{escape(found.model)} v{baseline.version} in {escape(baseline.env)} ({escape(baseline.why)}): "
        + (f"retraining needed ({', '.join(t.name for t in found.fired)})" if found.needed else "retraining not needed")
    )
    table = Table("trigger", "fired", "why", box=None)
    for trigger in found.triggers:
        fired = "yes" if trigger.fired else "no" if trigger.enabled else "off"
        table.add_row(trigger.name, fired, escape(trigger.reason))
    console.print(table)
    schedule = found.schedule or "none (retraining.schedule)"
    console.print(f"schedule: {escape(schedule)}; proposals go to {escape(found.promote_to)}")


def _render_outcome(console: Console, outcome: RetrainOutcome) -> None:
    from mlopsctl.retrain.api import absent_note

    _render_check(console, outcome.check)
    if outcome.already_trained is not None:
        console.print(f"Nothing retrained: {escape(outcome.already_trained)} (--force retrains anyway).")
        return
    if not outcome.attempted:
        console.print("Nothing retrained (--force retrains anyway).")
        return
    fresh, candidate = outcome.fresh, outcome.candidate
    assert fresh is not None and candidate is not None
    console.print(
        f"Fresh data: {fresh.rows} rows ({fresh.source_rows} from data.source, {fresh.labelled_rows} labelled"
        f"{escape(absent_note(fresh))})"
    )
    registered = f"registered {candidate.ref}" if candidate.ref else f"not registered ({candidate.not_registered})"
    console.print(f"Candidate: {escape(registered)}")
    if outcome.gate is not None:
        console.print(f"Comparison: {escape(outcome.gate.summary)}")
    if outcome.proposal is not None:
        proposal = outcome.proposal
        console.print(
            f"Proposed {escape(candidate.ref or '')} for {escape(outcome.check.promote_to)} "
            f"on branch {escape(proposal.branch)} (commit {proposal.commit[:12]})"
        )
        for step in proposal.next_steps:
            console.print(f"  {escape(step)}")
    else:
        console.print(f"Not proposed: {escape(outcome.not_proposed or '')}")


COMMANDS = [retrain]
