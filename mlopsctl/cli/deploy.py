"""Reconciler commands: plan (what would change), apply (converge), down (stop an environment)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from mlopsctl.cli.common import _store, global_options, options
from mlopsctl.deploy.api import (
    DEFAULT_READY_TIMEOUT,
    ApplyFailed,
    ApplyResult,
    Plan,
    apply_environment,
    down_environment,
    light_repo,
    plan_environment,
)
from mlopsctl.errors import ExitCode
from mlopsctl.spec.api import terminal_safe

_ENV = click.option("--env", "env", required=True, help="Environment (environments/ENV.yaml).")
_REF = click.option(
    "--ref", default="HEAD", show_default=True, help="Commit whose environment file is the desired state."
)
_WAIT = click.option("--wait", is_flag=True, help="Queue behind another apply or down instead of failing at once.")
F = TypeVar("F", bound=Callable[..., Any])
_COLOURS = {"+": "green", "~": "yellow", "!": "magenta", "-": "red", "=": "dim"}


def _markdown_output(func: F) -> F:
    """Replace the global --output (table|json) with one that also takes markdown."""
    params = [p for p in getattr(func, "__click_params__", []) if p.name != "output"]
    func.__click_params__ = params  # type: ignore[attr-defined]
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["table", "json", "markdown"]),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_store("output"),
        help="table for people (default), json for scripts, markdown for a pull-request comment.",
    )(func)


@click.command()
@_ENV
@_REF
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are changes (like terraform's -detailed-exitcode).")
@_markdown_output
@global_options
def plan(env: str, ref: str, exit_code: bool) -> int:
    """What apply would change: Git's desired state against what runs. Exit 1 when apply would refuse."""
    opts = options()
    result = plan_environment(light_repo(opts.repo_root()), env, ref=ref)
    if opts.output == "markdown":
        click.echo(terminal_safe(result.to_markdown()), nl=False)  # a PR comment, or a terminal
    else:
        opts.emit(result.to_dict(), lambda console: _render_plan(console, result))
    if not result.ok or (exit_code and result.changes):
        return int(ExitCode.PROBLEMS)
    return int(ExitCode.OK)


@click.command()
@_ENV
@_REF
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_READY_TIMEOUT,
    show_default=True,
    help="Seconds a new service has to become ready before it is rolled back.",
)
@_WAIT
@click.option(
    "--kubectl",
    "use_kubectl",
    is_flag=True,
    help="Kubernetes environments: also run kubectl apply -k deploy/<env>/ (your kubeconfig, its current context).",
)
@global_options
def apply(env: str, ref: str, timeout: float, wait: bool, use_kubectl: bool) -> int:
    """Converge what runs to what Git says: start, wait until ready, switch, stop the rest. Exit 1 after a rollback."""
    opts = options()

    def progress(line: str) -> None:
        opts.say(escape(line))

    try:
        repo = light_repo(opts.repo_root())
        result = apply_environment(
            repo, env, progress=progress, ref=ref, timeout=timeout, wait=wait, kubectl=use_kubectl
        )
    except ApplyFailed as failed:
        partial = failed.result
        opts.emit(partial.to_dict(), lambda console: _render_apply(console, partial))
        raise
    opts.emit(result.to_dict(), lambda console: _render_apply(console, result))
    return int(ExitCode.OK)


@click.command()
@_ENV
@_WAIT
@global_options
def down(env: str, wait: bool) -> int:
    """Stop everything an environment runs on its targets and clear its state (for local work and tests)."""
    opts = options()
    result = down_environment(light_repo(opts.repo_root()), env, wait=wait)

    def render(console: Console) -> None:
        for instance in result.stopped:
            console.print(f"stopped {escape(instance.spec.describe())} ({escape(instance.where)})")
        for step in result.next_steps:
            console.print(escape(step))

    opts.emit(result.to_dict(), render)
    return int(ExitCode.OK)


COMMANDS = [plan, apply, down]


def _render_plan(console: Console, result: Plan) -> None:
    for line in result.to_text().splitlines():
        colour = _COLOURS.get(line.strip()[:1]) if line.startswith("  ") else None
        text = escape(line)
        console.print(f"[{colour}]{text}[/]" if colour else text, soft_wrap=True)


def _render_apply(console: Console, result: ApplyResult) -> None:
    for action in result.actions:
        console.print(escape(action), soft_wrap=True)
    for step in result.next_steps:
        console.print(escape(step), soft_wrap=True)
