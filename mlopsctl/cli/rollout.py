"""``mlopsctl rollout``: judge each canary's current step and commit what follows.

The judgement lives in :mod:`mlopsctl.rollout.api`; this module parses the arguments and renders the
decisions: a table of the checks for people, ``-o json`` for scripts. Exit codes: 0 advanced,
promoted, waiting or nothing to do; 1 rolled back or refused; 2 usage; 3 Prometheus unreachable
(the rollout is paused, nothing committed).
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.cli.common import global_options, options
from mlopsctl.rollout import api

_VERDICT_STYLE = {"pass": "green", "fail": "bold red", "no data": "yellow"}
_ACTION_TEXT = {
    "wait": "waiting",
    "advance": "advance",
    "promote": "promote",
    "rollback": "roll back",
    "refused": "refused",
    "manual": "manual",
}


@click.command()
@click.option("--env", "env", required=True, help="Environment whose canaries are judged (environments/ENV.yaml).")
@click.argument("model", required=False)
@click.option("--dry-run", is_flag=True, help="Say the decision and the checks; commit nothing.")
@click.option("--no-push", is_flag=True, help="Commit only; print the push command instead of pushing.")
@global_options
def rollout(env: str, model: str | None, dry_run: bool, no_push: bool) -> int:
    """Judge each canary of ENV (or MODEL's alone) at its current step and commit what follows.

    A step is judged once it has run rollout.min_interval and the candidate answered
    rollout.min_requests requests; its checks (rollout.checks: error rate, p95 latency, agreement
    with the stable version, drift, live performance) are PromQL over the step's time. All pass:
    the next step's weight, or the full promotion after the last step. One fails: the rollback.
    Only models whose spec declares a rollout block are driven; other canaries are left as they are.

    Rollout commits go directly on the current branch (the canary was reviewed when it was
    promoted) and are pushed unless --no-push.

    Exit codes: 0 advanced, promoted, waiting or nothing to do; 1 rolled back or refused;
    3 Prometheus unreachable (paused: nothing committed).
    """
    opts = options()
    root = opts.repo_root()
    run = api.judge_rollouts if dry_run else lambda *args: api.run_rollout(*args, push=not no_push)
    report = run(root, env, model)
    opts.emit(report.to_dict(), lambda console: _render(console, report))
    return report.exit_code


def _render(console: Console, report: api.RolloutReport) -> None:
    if not report.decisions:
        console.print(f"No canary in {escape(report.env)}: nothing to roll out.")
        return
    for decision in report.decisions:
        _render_decision(console, decision, report.dry_run)


def _render_decision(console: Console, decision: api.Decision, dry_run: bool) -> None:
    canary = f"v{decision.stable} + canary v{decision.candidate}"
    head = f"{decision.model} in {decision.env}: {canary}, {decision.step_text}"
    console.print(f"[bold]{escape(head)}[/]")
    if decision.checks:
        console.print(_checks_table(decision))
    verb = _ACTION_TEXT[decision.action]
    console.print(f"  {'would ' + verb if dry_run and decision.changes else verb}: {escape(decision.reason)}")
    if decision.commit:
        where = "pushed" if decision.pushed else "not pushed (--no-push)"
        console.print(f"  committed {decision.commit[:12]}, {where}")
        for step in decision.next_steps:
            console.print(f"  {escape(step)}")


def _checks_table(decision: api.Decision) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 2))
    for column in ("check", "value", "threshold", "verdict", "over"):
        table.add_column(column)
    for check in decision.checks:
        style = _VERDICT_STYLE[check.verdict]
        verdict = f"[{style}]{check.verdict}[/]"
        table.add_row(escape(check.name), escape(check.shown), escape(check.limit), verdict, escape(check.window))
    return table


COMMANDS = [rollout]
