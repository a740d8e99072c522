"""The ``mlopsctl`` command: the root group, command registration and error handling.

Commands are thin: they parse arguments, call one function of the core, and render its result.
Every :class:`~mlopsctl.errors.MlopsError` becomes one clear message on stderr and its documented
exit code; anything unexpected becomes an "internal error" line (``--traceback`` shows the stack).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click
from rich.console import Console
from rich.markup import escape

from mlopsctl import __version__
from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import ExitCode, MlopsError


@click.group(
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

        open_dashboard()
        return
    click.echo(ctx.get_help())


def _register() -> None:
    from mlopsctl.cli import project

    for command in project.COMMANDS:
        cli.add_command(command)
    _register_optional()


def _register_optional() -> None:
    """Command groups of later capabilities, each in its own module."""
    import importlib

    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"mlopsctl.cli.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)


_COMMAND_MODULES: tuple[str, ...] = (
    "registry",
    "data",
    "train",
    "runs",
    "build",
    "monitor",
    "gitops",
    "serve",
    "deploy",
    "ui",
)


def print_error(error: MlopsError, console: Console | None = None) -> None:
    err = console or Console(stderr=True, highlight=False)
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
        Console(stderr=True).print("aborted")
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
        Console(stderr=True, highlight=False).print(
            f"[bold red]error:[/] [bold]Internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}\n"
            "[yellow]hint:[/] this is a bug in mlopsctl; run again with --traceback and report it"
        )
        return int(ExitCode.PROBLEMS)
    return int(result) if isinstance(result, int) else 0


_register()
