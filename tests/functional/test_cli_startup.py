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
            [sys.executable, "-m", "mlopsctl", name, "--help"], capture_output=True, text=True, cwd=str(tmp_path), check=False
        )
        assert proc.returncode == 0, f"{name} --help: {proc.stderr}"
        assert "Usage: mlopsctl" in proc.stdout
