"""``mlopsctl rollout``: judge each canary's current step and commit what follows.

The judgement lives in :mod:`mlopsctl.rollout.api`; this module parses the arguments and renders the
decision: a table of the checks for people, ``-o json`` for scripts.
"""

from __future__ import annotations

import click

from mlopsctl.cli.common import global_options


@click.command()
@click.option("--env", "env", required=True, help="Environment whose canaries are judged (environments/ENV.yaml).")
@click.argument("model", required=False)
@click.option("--dry-run", is_flag=True, help="Say the decision and the checks; commit nothing.")
@click.option("--no-push", is_flag=True, help="Commit only; print the push command instead of pushing.")
@global_options
def rollout(env: str, model: str | None, dry_run: bool, no_push: bool) -> int:
    """Judge each canary of ENV (or MODEL's alone) at its current step and commit the next step.

    Rollout commits go straight to the current branch (the canary was reviewed when it was
    promoted) and are pushed unless --no-push.
    """
    raise click.UsageError("mlopsctl rollout is not available yet")


COMMANDS = [rollout]
