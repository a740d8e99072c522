"""What every command shares: the global options, the repository it works on, and output.

``--repo``, ``--output`` and the hidden ``--traceback`` are accepted both before the command
(``mlopsctl --repo X validate``) and after it (``mlopsctl validate --repo X``).

Everything the CLI prints to people goes through a :class:`~mlopsctl.cli.console.SafeConsole`, so
a string from the model repository (a commit subject, a run id, a column name) never reaches the
terminal with its control characters; ``--output json`` is escaped by ``json.dumps`` instead.
Importing this module loads click and nothing heavier (``mlopsctl --help`` stays fast): rich and
the spec loader load when a console or the repository is first asked for.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from mlopsctl.spec.api import Repo

F = TypeVar("F", bound=Callable[..., Any])
OUTPUT_FORMATS = ("table", "json")


def stderr_console() -> Console:
    """Where errors, hints and progress go."""
    from mlopsctl.cli.console import SafeConsole  # rich: only once something is printed

    return SafeConsole(stderr=True, highlight=False)


def stdout_console() -> Console:
    """Where tables and results for people go."""
    from mlopsctl.cli.console import SafeConsole

    return SafeConsole(highlight=False, soft_wrap=False)


@dataclass
class Options:
    """Global options gathered from the group and the command."""

    repo: Path | None = None
    output: str = "table"
    traceback: bool = False
    console: Console = field(default_factory=stdout_console)
    err: Console = field(default_factory=stderr_console)

    @property
    def json(self) -> bool:
        return self.output == "json"

    def repo_root(self) -> Path:
        from mlopsctl.spec.api import find_repo_root

        return find_repo_root(self.repo)

    def open(self) -> Repo:
        from mlopsctl.spec.api import open_repo

        return open_repo(self.repo_root())

    def emit(self, payload: Any, render: Callable[[Console], None]) -> None:
        """JSON on stdout for scripts, or the rich rendering for people."""
        if self.json:
            sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        else:
            render(self.console)

    def say(self, text: str) -> None:
        """Progress and next steps for people; kept off stdout when the output is JSON."""
        (self.err if self.json else self.console).print(text)


def options() -> Options:
    ctx = click.get_current_context()
    found = ctx.find_object(Options)
    if found is None:
        found = ctx.ensure_object(Options)
    return found


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None and value is not False:
            opts = ctx.find_object(Options) or ctx.ensure_object(Options)
            setattr(opts, name, Path(value) if name == "repo" else value)
        return value

    return callback


def global_options(func: F) -> F:
    """Add --repo, --output and --traceback to a command or group."""
    decorators = [
        click.option(
            "--repo",
            type=click.Path(file_okay=False, path_type=Path),
            default=lambda: os.environ.get("MLOPS_REPO"),
            expose_value=False,
            is_eager=True,
            callback=_store("repo"),
            help="Model repository. Default: the nearest folder with mlops.yaml at or above the current one.",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Choice(OUTPUT_FORMATS),
            default=None,
            expose_value=False,
            is_eager=True,
            callback=_store("output"),
            help="table for people (default), json for scripts.",
        ),
        click.option(
            "--traceback",
            is_flag=True,
            default=False,
            hidden=True,
            expose_value=False,
            is_eager=True,
            callback=_store("traceback"),
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func
