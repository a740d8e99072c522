"""``mlopsctl render --env ENV``: an environment's Kubernetes manifests in deploy/<env>/ (issue 17).

The folder is a kustomization that Argo CD or Flux syncs; ``-o json`` lists what was written.
Exit 1 when the environment cannot be rendered (a version without a pushed image digest, a
model spec with problems), each problem at file:line:column.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import ExitCode
from mlopsctl.kubernetes.api import RenderResult, render_environment


@click.command()
@click.option(
    "--env", "env", required=True, help="Environment to render (environments/ENV.yaml, as in the working tree)."
)
@global_options
def render(env: str) -> int:
    """Render an environment's Kubernetes manifests into deploy/<env>/ for Argo CD or Flux."""
    opts = options()
    result = render_environment(opts.repo_root(), env)
    opts.emit(result.to_dict(), lambda console: _render(console, result))
    return int(ExitCode.OK)


def _render(console: Console, result: RenderResult) -> None:
    table = Table(title=f"{escape(result.folder)}/", title_justify="left")
    table.add_column("file")
    table.add_column("change")
    added, changed = set(result.added), set(result.changed)
    for name in result.files:
        status = "added" if name in added else "changed" if name in changed else "unchanged"
        table.add_row(escape(name), status)
    for name in result.removed:
        table.add_row(escape(name), "removed")
    console.print(table)
    for step in result.next_steps:
        console.print(escape(step), soft_wrap=True)


COMMANDS = [render]
