"""The ``mlopsctl`` command: the root group, command registration and error handling.

Commands are thin: they parse arguments, call one function of the core, and render its result.
Every :class:`~mlopsctl.errors.MlopsError` becomes one clear message on stderr and its documented
exit code; anything unexpected becomes an "internal error" line (``--traceback`` shows the stack).

Start-up loads click and the error tree only: ``mlopsctl --help`` and ``--version`` answer without
rich, pydantic or the spec loader (a test checks ``sys.modules`` in a subprocess).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from mlopsctl import __version__
from mlopsctl.cli.common import global_options, options, stderr_console
from mlopsctl.errors import ExitCode, MlopsError

if TYPE_CHECKING:
    from rich.console import Console


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (or help lists it).

    Start-up time is a feature: ``mlopsctl history`` must not pay for pandas, scipy or the
    Docker SDK. Commands are listed in :data:`COMMANDS` with their one-line help, so
    ``mlopsctl --help`` needs no import either; a test keeps the table in sync with the modules.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, attribute = COMMANDS[cmd_name][0].split(":")
            loaded = getattr(importlib.import_module(f"mlopsctl.cli.{module}"), attribute)
            self.add_command(loaded, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("project:init", "Create a model repository at PATH from the template."),
    "validate": ("project:validate", "Check every spec: schema, then semantics."),
    "schema": ("project:schema", "Print the JSON Schema of a spec kind."),
    "demo": ("project:demo", "Walk through the lifecycle on a demo repository, ending in the dashboard."),
    "data": ("data:data_group", "Data quality checks on the four dimensions, and fingerprints."),
    "train": ("train:train", "Check the data, fit, evaluate, gate and register a version."),
    "retrain": ("retrain:retrain", "Check the spec's retraining triggers; retrain and propose when one fires."),
    "reproduce": ("train:reproduce", "Train MODEL@VERSION again from its recorded spec and data."),
    "runs": ("runs:runs_group", "Tracked training runs: list, show, compare."),
    "registry": ("registry:registry_group", "Registered model versions: list, show."),
    "build": ("build:build", "Build the Docker image of a model version."),
    "serve": ("serve:serve", "Serve MODEL@VERSION over HTTP as a local process."),
    "promote": ("gitops:promote", "Promote MODEL@VERSION to an environment (a commit or pull request)."),
    "rollout": (
        "rollout:rollout",
        "Judge a canary's step by its checks; commit the next step, the promotion or the rollback.",
    ),
    "rollback": ("gitops:rollback", "Return MODEL in an environment to the version that ran before."),
    "archive": ("gitops:archive", "Archive MODEL@VERSION: kept for lineage, never deployed again."),
    "retire": ("gitops:retire", "Retire MODEL[@VERSION]: out of every environment in one commit, then archived."),
    "history": ("gitops:history", "Audit log: promotions, rollbacks, archives, retirements, reverts, hand edits."),
    "render": ("render:render", "Render an environment's Kubernetes manifests into deploy/<env>/ (kustomize)."),
    "feedback": ("feedback:feedback", "Send ground-truth labels for logged predictions (a CSV or JSON lines file)."),
    "explain": ("feedback:explain", "Which model, version and artifact answered a request; re-runs it."),
    "plan": ("deploy:plan", "What apply would change: Git's desired state against what runs."),
    "apply": ("deploy:apply", "Converge what runs to what Git says."),
    "down": ("deploy:down", "Stop everything an environment runs."),
    "status": ("monitor:status", "Health of every deployment; exit 1 on CRIT, 3 when metrics are unreachable."),
    "drift": ("monitor:drift", "Per-feature drift of a model: live, or offline between two data files."),
    "monitoring": ("monitor:monitoring_group", "Render Prometheus scrape config, rules and a Grafana dashboard."),
    "ui": ("ui:ui", "Open the terminal dashboard."),
}
"""Command name -> ("module:attribute" under mlopsctl.cli, one-line help)."""


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="mlopsctl")
@global_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run the whole life of scikit-learn models from one Git repository of declarative specs.

    With no command in a terminal, opens the dashboard (as `mlopsctl ui`).
    """
    if ctx.invoked_subcommand is not None:
        return
    if sys.stdin.isatty() and sys.stdout.isatty() and options().output == "table":
        from mlopsctl.cli.ui import open_dashboard

        ctx.exit(open_dashboard())
    click.echo(ctx.get_help())


def print_error(error: MlopsError, console: Console | None = None) -> None:
    from rich.markup import escape

    err = console or stderr_console()
    err.print(f"[bold red]error:[/] [bold]{escape(error.title)}:[/] {escape(error.message)}", soft_wrap=True)
    if error.hint:
        err.print(f"[yellow]hint:[/] {escape(error.hint)}", soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the CLI and exit with the documented code."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args or os.environ.get("MLOPS_TRACEBACK") == "1"
    try:
        result = cli.main(args=args, prog_name="mlopsctl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        stderr_console().print("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.USAGE)
    except MlopsError as exc:
        if show_traceback:
            raise
        print_error(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if show_traceback:
            raise
        from rich.markup import escape

        stderr_console().print(
            f"[bold red]error:[/] [bold]Internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}\n"
            "[yellow]hint:[/] this is a bug in mlopsctl; run again with --traceback and report it"
        )
        return int(ExitCode.PROBLEMS)
    return int(result) if isinstance(result, int) else 0
