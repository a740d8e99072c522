"""No cycle between mlopsctl's top-level packages: import-linter's ``no-package-cycles`` contract holds.

scripts/test.sh enforces the contract as a stage; this test runs it too, so a cycle fails the
test suite wherever it runs, and checks the stage keeps enforcing it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_no_cycle_between_top_level_packages() -> None:
    command = [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", "no-package-cycles"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No cycles between mlopsctl's top-level packages KEPT" in done.stdout


def test_the_test_script_enforces_the_no_cycles_contract() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    enforced = next(line for line in script.splitlines() if line.startswith("enforced_contracts=("))
    assert "no-package-cycles" in enforced.removeprefix("enforced_contracts=(").removesuffix(")").split()
