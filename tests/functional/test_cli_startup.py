"""The CLI must start fast: importing it may not pull in the heavy libraries commands use."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "sklearn", "scipy", "pyarrow", "docker", "textual", "skops", "prometheus_api_client", "numpy")


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = (
        "import sys, mlopsctl.cli.main;"
        f"heavy = {HEAVY!r};"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_help_of_every_command_works_without_a_repository(tmp_path: object) -> None:
    from mlopsctl.cli.main import cli

    for name in sorted(cli.commands):
        proc = subprocess.run(
            [sys.executable, "-m", "mlopsctl", name, "--help"],
            capture_output=True,
            text=True,
            cwd=str(tmp_path),
            check=False,
        )
        assert proc.returncode == 0, f"{name} --help: {proc.stderr}"
        assert "Usage: mlopsctl" in proc.stdout


def test_the_lazy_command_table_matches_the_modules() -> None:
    import importlib

    import click

    from mlopsctl.cli.main import COMMANDS

    for name, (location, summary) in COMMANDS.items():
        module, attribute = location.split(":")
        command = getattr(importlib.import_module(f"mlopsctl.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        assert command.name == name
        assert summary.endswith(".") and len(summary) < 100
    listed = {
        c.name
        for m in {loc.split(":")[0] for loc, _ in COMMANDS.values()}
        for c in importlib.import_module(f"mlopsctl.cli.{m}").COMMANDS
    }
    assert listed == set(COMMANDS), "a module's COMMANDS and the lazy table disagree"


def test_a_command_imports_only_what_it_needs() -> None:
    code = (
        "import sys; from mlopsctl.cli.main import run;"
        "run(['history', '--help']);"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'scipy', 'sklearn', 'docker', 'textual'}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


LIGHT_COMMAND_MODULES = ("project", "data", "train", "runs", "registry", "build", "deploy", "ui")
"""Command modules whose domain APIs load their heavy libraries only when the command runs."""


def test_command_modules_going_through_the_apis_stay_light() -> None:
    modules = ", ".join(f"mlopsctl.cli.{name}" for name in LIGHT_COMMAND_MODULES)
    code = (
        f"import sys, {modules};"
        f"heavy = {HEAVY!r};"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_the_demo_runs_without_the_cli_package() -> None:
    code = "import sys, mlopsctl.demo; print(sorted(m for m in sys.modules if m.startswith('mlopsctl.cli')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
