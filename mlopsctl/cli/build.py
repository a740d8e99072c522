"""``mlopsctl build MODEL@VERSION``: the Docker image of a model version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlopsctl.build.api import Progress
from mlopsctl.cli.common import Options, global_options, options
from mlopsctl.errors import UsageError


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
@click.argument("ref", metavar="[MODEL@VERSION]", required=False)
@click.option(
    "--env",
    "env",
    metavar="ENV",
    help="Instead of one version: every version ENV runs on the docker or kubernetes target "
    "(with --push, those already pushed are skipped). CI's step before apply.",
)
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
def build(
    ref: str | None, env: str | None, tags: tuple[str, ...], push: bool, context_dir: Path | None, no_cache: bool
) -> int:
    """Build the Docker image of a model version through the engine's API (offline, reproducible)."""
    from mlopsctl.build.api import build_image

    opts = options()
    example = "e.g. mlopsctl build churn@3 --push, or mlopsctl build --env production --push"
    if ref is not None and env is not None:
        raise UsageError("give MODEL@VERSION or --env ENV, not both", hint=example)
    if env is not None:
        if tags or context_dir is not None:
            raise UsageError("--tag and --context name one image: use them with MODEL@VERSION, not --env")
        return _build_environment(opts, env, push)
    if ref is None:
        raise UsageError("give MODEL@VERSION or --env ENV", hint=example)
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


def _build_environment(opts: Options, env: str, push: bool) -> int:
    from mlopsctl.build.api import build_environment

    result = build_environment(opts.open(), env, push=push, progress=StepPrinter(opts))

    def render(console: Console) -> None:
        if result.images:
            table = Table(title=f"images of {escape(env)}", title_justify="left", box=None, pad_edge=False)
            for column in ("VERSION", "TARGET", "DONE", "IMAGE"):
                table.add_column(column, no_wrap=column != "IMAGE", overflow="fold")
            for image in result.images:
                pinned = f"{image.reference}@{image.digest}" if image.digest else image.reference
                table.add_row(f"{image.model}@{image.version}", image.target, image.outcome, escape(pinned))
            console.print(table)
        for model in result.without_image:
            console.print(f"{escape(model)}: runs on the local target as a process, no image needed")
        if not result.images and not result.without_image:
            console.print(f"{escape(env)} runs nothing: no image to build")

    opts.emit(result.to_dict(), render)
    return 0


COMMANDS = [build]
