"""`mlopsctl --help` and `--version` answer from click alone (issue 13 item 14: under 0.15 s).

Speed itself is measured by bench/bench_cli.py, not here: these tests check what makes it fast,
the modules the real entry point loads, and that the text is still click's own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SLOW_AT_START = ("rich", "pydantic", "yaml", "git", "sklearn", "pandas", "mlopsctl.spec", "mlopsctl.cli.console")
"""What ``--help`` used to load before printing a word (pydantic alone was half of its 0.3 s)."""

REPORT_MODULES = """
import atexit, sys
slow = {slow!r}
loaded = lambda: sorted(s for s in slow if any(m == s or m.startswith(s + ".") for m in sys.modules))
atexit.register(lambda: sys.stderr.write(f"loaded: {{loaded()}}\\n"))
from mlopsctl.cli.main import main
sys.argv[0] = "mlopsctl"
main()
"""


def run_entry_point(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The console script's own code (``mlopsctl.cli.main:main``), reporting the slow modules it loaded."""
    code = REPORT_MODULES.format(slow=SLOW_AT_START)
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"], []])
def test_help_and_version_load_no_slow_module(args: list[str], tmp_path: Path) -> None:
    proc = run_entry_point(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "loaded: []\n"


def test_help_text_is_clicks_and_lists_every_command(tmp_path: Path) -> None:
    from mlopsctl.cli.main import COMMANDS

    proc = run_entry_point("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.startswith(
        "Usage: mlopsctl [OPTIONS] [COMMAND] [ARGS]...\n\n"
        "  Run the whole life of scikit-learn models from one Git repository of"
    )
    listed = proc.stdout.split("Commands:\n", 1)[1]
    assert [line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line[2] != " "] == sorted(
        COMMANDS
    )
    assert run_entry_point("-h", cwd=tmp_path).stdout == proc.stdout
    assert run_entry_point(cwd=tmp_path).stdout == proc.stdout  # no command, no terminal: the same help


def test_version_is_the_package_version(tmp_path: Path) -> None:
    from mlopsctl import __version__

    proc = run_entry_point("--version", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, f"mlopsctl, version {__version__}\n")


def test_errors_still_print_through_the_safe_console(tmp_path: Path) -> None:
    proc = run_entry_point("validate", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"error: Not a model repository: no mlops.yaml in {tmp_path.resolve()}")
