"""``mlopsctl serve MODEL@VERSION``: serve a registered version locally until Ctrl-C."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape

from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import UsageError
from mlopsctl.registry.records import parse_ref
from mlopsctl.serve.local import Listening, ServeRequest, prepare, run


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
    from mlopsctl.spec.loader import scan_repo

    opts = options()
    model, version = parse_ref(ref)
    request = ServeRequest(
        model,
        version,
        _candidate(model, candidate),
        "shadow" if strategy == "shadow" else "canary",
        weight,
        host,
        port,
        seed,
    )
    service, limits, chosen_port = prepare(scan_repo(opts.repo_root()), request)

    def listening(info: Listening) -> None:
        opts.emit(info.to_dict(), lambda console: _render(console, info))
        sys.stdout.flush()

    run(service, limits, host, chosen_port, listening)
    opts.say("stopped")
    return 0


def _candidate(model: str, text: str | None) -> int | None:
    if text is None:
        return None
    found = parse_ref(text if "@" in text else f"{model}@{text}")
    if found[0] != model or found[1] is None:
        raise UsageError(
            f"--candidate '{text}' is not a version of {model}", hint="give a version number, e.g. --candidate 4"
        )
    return found[1]


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
