"""``mlopsctl serve MODEL@VERSION``: serve a registered version locally until Ctrl-C."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape

from mlopsctl.cli.common import global_options, options
from mlopsctl.serve.api import Listening, ServeOptions, prepare_local, serve_local, serve_request


@click.command("serve")
@click.argument("ref", metavar="MODEL@VERSION")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port (default: the spec's, else 8000; 0: any free port).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--candidate", default=None, metavar="VERSION", help="A second version that gets canary or shadow traffic."
)
@click.option("--strategy", type=click.Choice(["canary", "shadow"]), default="canary", show_default=True)
@click.option(
    "--weight", type=click.FloatRange(0, 100), default=10.0, show_default=True, help="Canary: percent of requests."
)
@click.option("--seed", type=int, default=None, hidden=True)
@global_options
def serve(
    ref: str, port: int | None, host: str, candidate: str | None, strategy: str, weight: float, seed: int | None
) -> int:
    """Serve MODEL@VERSION (e.g. churn@3 or churn@latest) on http://HOST:PORT until Ctrl-C."""
    opts = options()
    chosen = ServeOptions(candidate, "shadow" if strategy == "shadow" else "canary", weight, host, port, seed)
    request = serve_request(ref, chosen)  # a bad reference is reported before the repository is looked for
    local = prepare_local(opts.repo_root(), request)

    def listening(info: Listening) -> None:
        opts.emit(info.to_dict(), lambda console: _render(console, info))
        sys.stdout.flush()

    serve_local(local, listening)
    opts.say("stopped")
    return 0


def _render(console: Console, info: Listening) -> None:
    console.print(f"[green]Serving[/] [bold]{escape(info.model)}@{info.version}[/] on [bold]{escape(info.url)}[/]")
    if info.candidate is not None:
        share = f"{info.weight:g}% canary" if info.strategy == "canary" else "shadow"
        console.print(f"  candidate {escape(info.model)}@{info.candidate} ({share})")
    console.print(f"  predictor: {escape(info.predictor)}")
    console.print(
        "  routes: POST /predict  POST /v2/models/NAME/infer  GET /health/ready /metadata /metrics", soft_wrap=True
    )
    console.print("\nTry it:")
    console.print(f"  {escape(info.example)}", soft_wrap=True)
    console.print("\nCtrl-C stops it.")


COMMANDS = [serve]
