"""``mlopsctl ui`` (and ``mlopsctl`` with no command in a terminal): the dashboard."""

from __future__ import annotations

import click

from mlopsctl.cli.common import global_options, options


@click.command()
@click.option("--readonly", is_flag=True, help="Hide every action that changes something (promote, apply, ...).")
@click.option(
    "--refresh", type=click.FloatRange(min=0.2), help="Seconds between live refreshes (default: ui.refresh_seconds)."
)
@click.option("--theme", help="Textual theme, e.g. textual-dark or textual-light.")
@global_options
def ui(readonly: bool, refresh: float | None, theme: str | None) -> int:
    """Open the terminal dashboard on the repository."""
    return open_dashboard(readonly=readonly, refresh=refresh, theme=theme)


def open_dashboard(*, readonly: bool = False, refresh: float | None = None, theme: str | None = None) -> int:
    """Run the dashboard; its exit code (1 when it stopped on an internal error, after Textual's report)."""
    from mlopsctl.tui.app import run_dashboard

    return run_dashboard(options().repo_root(), readonly=readonly, refresh_seconds=refresh, theme=theme)


COMMANDS = [ui]
