"""The project's .pre-commit-config.yaml runs the fast stages of scripts/test.sh, exactly (issue 13 item 17).

Every check scripts/test.sh (CI's entry point through .ci/run) makes before pytest is a hook, with
the same command line, so a commit that passes the hooks passes those CI stages; a stage added to
scripts/test.sh fails this test until it has its hook.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".pre-commit-config.yaml"
TEST_SCRIPT = ROOT / "scripts" / "test.sh"
NOT_A_HOOK = ("python -m pytest",)
"""Stages that stay in CI: the test suite takes minutes and needs Docker and Prometheus."""


def hooks() -> list[dict[str, object]]:
    config = yaml.safe_load(CONFIG.read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    return list(config["repos"][0]["hooks"])


def script_commands() -> list[list[str]]:
    """Each `.venv/bin/...` command scripts/test.sh runs, its contract list expanded as bash would."""
    text = TEST_SCRIPT.read_text()
    contracts = re.search(r"^enforced_contracts=\(([^)]*)\)", text, re.MULTILINE)
    assert contracts is not None, "scripts/test.sh no longer lists enforced_contracts=(...)"
    contract_args = " ".join(f"--contract {name}" for name in contracts[1].split())
    commands = []
    for line in text.splitlines():
        if not line.startswith(".venv/bin/"):
            continue
        line = line.replace('"${contract_args[@]}"', contract_args)
        for command in re.split(r"\s*(?:&&|\|\|)\s*", line):
            if command.startswith(".venv/bin/") and not any(skip in command for skip in NOT_A_HOOK):
                commands.append(shlex.split(command))
    return commands


def test_every_fast_stage_of_the_test_script_is_a_hook_with_the_same_command() -> None:
    entries = [shlex.split(str(hook["entry"])) for hook in hooks()]
    assert entries == script_commands()
    assert [hook["id"] for hook in hooks()] == ["ruff", "ruff-format", "mypy", "lint-imports"]


def test_hooks_check_the_whole_tree_with_the_projects_own_tools() -> None:
    for hook in hooks():
        assert hook["language"] == "system", hook["id"]
        assert hook["pass_filenames"] is False, f"{hook['id']}: the test script checks whole folders, not files"
        assert str(hook["entry"]).startswith(".venv/bin/"), hook["id"]


@pytest.mark.skipif(shutil.which("pre-commit", path=str(ROOT / ".venv" / "bin")) is None, reason="pre-commit absent")
def test_pre_commit_accepts_the_config() -> None:
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pre-commit"), "validate-config", str(CONFIG)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
