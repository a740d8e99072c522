"""``mlopsctl demo``: the lifecycle on a fresh repository, one visible step at a time.

Each step calls the same core functions as the CLI commands and prints the command a user would
type to do it by hand, so the demo doubles as a tour.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from mlopsctl.errors import CheckFailed, ExitCode
from mlopsctl.scaffold.init import init_repo
from mlopsctl.spec.validate import validate_repo

if TYPE_CHECKING:
    from mlopsctl.cli.common import Options


@dataclass
class DemoState:
    root: Path
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    title: str
    command: str
    run: Callable[[DemoState, Options], None]


def _step_init(state: DemoState, opts: Options) -> None:
    result = init_repo(state.root, "demo")
    opts.say(f"  created {escape(str(result.root))} at commit {result.commit[:12]} ({len(result.files)} files)")


def _step_validate(state: DemoState, opts: Options) -> None:
    repo, problems = validate_repo(state.root)
    if problems:
        raise CheckFailed("\n".join(str(p) for p in problems), title="The demo repository does not validate")
    opts.say(f"  ok: {len(repo.models)} model, {len(repo.environments)} environments, no problems")


STEPS: list[Step] = [
    Step("Create a model repository", "mlopsctl init {root}", _step_init),
    Step("Validate every spec", "mlopsctl validate", _step_validate),
]


def run_demo(opts: Options, path: Path | None, *, open_ui: bool) -> int:
    root = (path or Path(tempfile.mkdtemp(prefix="mlopsctl-demo-")) / "repo").resolve()
    state = DemoState(root=root)
    for number, step in enumerate(STEPS, start=1):
        opts.say(f"\n[bold cyan]{number}. {escape(step.title)}[/]  [dim]$ {escape(step.command.format(root=root))}[/]")
        step.run(state, opts)
    opts.say("\n[bold green]Demo repository ready.[/] Try it yourself:")
    opts.say(f"  cd {escape(str(root))}")
    opts.say("  mlopsctl validate")
    opts.say("  mlopsctl schema model > /tmp/model.schema.json   # the JSON Schema editors use")
    for note in state.notes:
        opts.say(note)
    return int(ExitCode.OK)
