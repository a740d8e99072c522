"""What every command shares: the global options, the repository it works on, and output.

``--repo``, ``--output`` and the hidden ``--traceback`` are accepted both before the command
(``mlopsctl --repo X validate``) and after it (``mlopsctl validate --repo X``).

Everything the CLI prints to people goes through a :class:`SafeConsole`, so a string from the model
repository (a commit subject, a run id, a column name) never reaches the terminal with its control
characters; ``--output json`` is escaped by ``json.dumps`` instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

from mlopsctl.spec.api import Repo, find_repo_root, open_repo, terminal_safe

F = TypeVar("F", bound=Callable[..., Any])
OUTPUT_FORMATS = ("table", "json")


class SafeConsole(Console):
    """A rich Console that writes no control character but its own styles and cursor moves.

    Cleaning the rendered segments, not the strings handed to ``print``, covers every table, cell,
    progress bar and error message at one place. It runs after layout, and rich measures control
    characters as zero cells wide, so columns stay aligned. Control segments are rich's own.
    """

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None:
                text = terminal_safe(segment.text)
                if text is not segment.text:
                    segment = Segment(text, segment.style)
            yield segment


def stderr_console() -> SafeConsole:
    """Where errors, hints and progress go."""
    return SafeConsole(stderr=True, highlight=False)


@dataclass
class Options:
    """Global options gathered from the group and the command."""

    repo: Path | None = None
    output: str = "table"
    traceback: bool = False
    console: Console = field(default_factory=lambda: SafeConsole(highlight=False, soft_wrap=False))
    err: Console = field(default_factory=stderr_console)

    @property
    def json(self) -> bool:
        return self.output == "json"

    def repo_root(self) -> Path:
        return find_repo_root(self.repo)

    def open(self) -> Repo:
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
        opts = ctx.find_object(Options) or ctx.ensure_object(Options)
        if value is not None and value is not False:
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
