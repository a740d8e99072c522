"""``mlopsctl build MODEL@VERSION``: the Docker image of a model version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from mlopsctl.build.api import Progress
from mlopsctl.cli.common import Options, global_options, options


class StepPrinter(Progress):
    """Streams the engine's build steps and mlopsctl's own phases as lines (silent for JSON output)."""

    def __init__(self, opts: Options) -> None:
        self.console = opts.console
        self.quiet = opts.json

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"[cyan]>[/] {escape(text)}")

    def event(self, event: dict[str, Any]) -> None:
        if self.quiet:
            return
        text = str(event.get("stream") or "").rstrip()
        if text.startswith("Step "):
            self.console.print(f"  [bold]{escape(text)}[/]", soft_wrap=True)
        elif "Using cache" in text:
            self.console.print("    [green]cached[/]")
        elif text and not text.startswith(" ---> ") and not text.startswith("Removing intermediate"):
            self.console.print(f"    [dim]{escape(text)}[/]", soft_wrap=True)
        elif event.get("status") and event.get("id") is None:
            self.console.print(f"    [dim]{escape(str(event['status']))}[/]", soft_wrap=True)


@click.command()
@click.argument("ref", metavar="MODEL@VERSION")
@click.option("--tag", "tags", multiple=True, help="Another tag (latest) or full reference (acme/churn:x); repeatable.")
@click.option("--push", is_flag=True, help="Push to image.registry from mlops.yaml and record the digest.")
@click.option(
    "--context",
    "context_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the build context (Dockerfile, build/ wheels, service/, model/) here, to read or rebuild by hand.",
)
@click.option("--no-cache", is_flag=True, help="Rebuild every layer (the same inputs still give the same layers).")
@global_options
def build(ref: str, tags: tuple[str, ...], push: bool, context_dir: Path | None, no_cache: bool) -> int:
    """Build the Docker image of a model version through the engine's API (offline, reproducible)."""
    from mlopsctl.build.api import build_image

    opts = options()
    result = build_image(
        opts.open(), ref, tags=tags, push=push, progress=StepPrinter(opts), context_dir=context_dir, no_cache=no_cache
    )

    def render(console: Console) -> None:
        console.print(
            f"\n[green]Built[/] {escape(result.model)}@{result.version} in {result.seconds:.1f} s: "
            f"{result.cached_steps}/{result.steps} steps cached, {result.size / 1e6:.0f} MB"
        )
        console.print(f"  image   {result.image_id}")
        for reference in result.references:
            console.print(f"  tag     {escape(reference)}")
        for entry in result.pushed:
            console.print(f"  pushed  {escape(entry.reference)}@{entry.digest}")
        if result.commit:
            console.print(f"  commit  {result.commit[:12]}  (registry/{escape(result.model)}/images.yaml)")
        console.print("\nRun it:")
        console.print(f"  docker run --rm -p 8080:8080 {escape(result.references[0])}")

    opts.emit(result.to_dict(), render)
    return 0


COMMANDS = [build]
