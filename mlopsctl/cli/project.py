"""Commands about the repository itself: init, validate, schema, demo."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from mlopsctl.cli.common import global_options, options
from mlopsctl.errors import ExitCode
from mlopsctl.project.api import validate as validate_repo
from mlopsctl.spec.api import Problem, schema_text

SCHEMA_KINDS = ("environment", "model", "project")


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", help="Project name. Default: from the folder name.")
@global_options
def init(path: Path, name: str | None) -> None:
    """Create a model repository at PATH from the template (git init and a first commit)."""
    from mlopsctl.scaffold.api import init_repo

    opts = options()
    result = init_repo(path, name)
    payload = {"root": str(result.root), "name": result.name, "commit": result.commit, "files": result.files}

    def render(console: Console) -> None:
        console.print(
            f"[green]Created[/] model repository [bold]{escape(result.name)}[/] in {escape(str(result.root))}"
        )
        console.print(f"  commit {result.commit[:12]}  ({len(result.files)} files)")
        console.print("\nNext steps:")
        console.print(f"  cd {escape(str(path))}")
        console.print("  mlopsctl validate            # check every spec")
        console.print("  mlopsctl data check churn    # run the data quality checks")
        console.print("  mlopsctl train churn         # train, gate and register version 1")

    opts.emit(payload, render)


@click.command()
@global_options
def validate() -> int:
    """Check every spec: schema, then semantics (columns, estimators, versions, environments)."""
    opts = options()
    repo, problems = validate_repo(opts.repo_root())
    errors = [p for p in problems if p.severity == "error"]
    payload = {
        "ok": not errors,
        "root": str(repo.root),
        "models": sorted(repo.models),
        "environments": sorted(repo.environments),
        "problems": [p.to_dict() for p in problems],
    }
    opts.emit(
        payload,
        lambda console: _render_problems(console, repo.root, problems, len(repo.models), len(repo.environments)),
    )
    return int(ExitCode.PROBLEMS if errors else ExitCode.OK)


def _render_problems(console: Console, root: Path, problems: list[Problem], models: int, envs: int) -> None:
    for problem in problems:
        shown = Problem(_relative(problem.file, root), problem.line, problem.column, problem.field, problem.message)
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{colour}]{escape(str(shown))}[/]", soft_wrap=True)
    if problems:
        console.print(f"\n[red]{_plural(len(problems), 'problem')}[/] in {escape(str(root))}")
    else:
        console.print(f"[green]ok[/]: {_plural(models, 'model')}, {_plural(envs, 'environment')}, no problems")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _relative(file: str, root: Path) -> str:
    try:
        return str(Path(file).relative_to(root))
    except ValueError:
        return file


@click.command()
@click.argument("kind", type=click.Choice(SCHEMA_KINDS), default="model")
def schema(kind: str) -> None:
    """Print the JSON Schema of a spec kind (model, project or environment)."""
    click.echo(schema_text(kind), nl=False)


@click.command()
@click.option("--path", type=click.Path(path_type=Path), help="Where to create the demo repo. Default: a temp folder.")
@click.option("--no-ui", is_flag=True, help="Do not open the dashboard at the end.")
@click.option("--keep", is_flag=True, help="Leave the traffic and the services running when the dashboard quits.")
@global_options
def demo(path: Path | None, no_ui: bool, keep: bool) -> int:
    """Create a demo repository and walk through the lifecycle on it, step by step."""
    from mlopsctl.demo import run_demo

    return run_demo(options(), path, open_ui=not no_ui, keep=keep)


COMMANDS = [init, validate, schema, demo]
