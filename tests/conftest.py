"""Shared fixtures: an isolated git identity, real model repositories, and the CLI.

Every test runs with its own HOME and .gitconfig so nothing of the developer's setup leaks in,
and model repositories are created by the real ``init`` (a real git repository with a commit).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlopsctl.oplog import Operation, subscribe
from mlopsctl.scaffold.init import init_repo

GITCONFIG = """[user]
\tname = Test User
\temail = test@example.com
[init]
\tdefaultBranch = main
[commit]
\tgpgsign = false
[protocol "file"]
\tallow = always
"""


def isolate_git_home(tmp_path_factory: pytest.TempPathFactory, patch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME whose .gitconfig is :data:`GITCONFIG`, and no system git config: the user's own
    git settings never reach a test. Module-scoped fixtures call it with their own MonkeyPatch."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(GITCONFIG)
    patch.setenv("HOME", str(home))
    patch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return home


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = isolate_git_home(tmp_path_factory, monkeypatch)
    monkeypatch.setenv("COLUMNS", "200")
    for name in [n for n in os.environ if n.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)  # the user config is read from the test's HOME
    # One estimator table per session (validate builds it once per scikit-learn version), not one per HOME
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    return home


@pytest.fixture
def operations() -> Iterator[list[Operation]]:
    """Every operation the ports record while the test runs (the dashboard's Log view sees the same)."""
    seen: list[Operation] = []
    unsubscribe = subscribe(seen.append)
    try:
        yield seen
    finally:
        unsubscribe()


@pytest.fixture
def model_repo(tmp_path: Path) -> Path:
    """A fresh repository from ``mlopsctl init`` (one commit, example model, sample data)."""
    return init_repo(tmp_path / "repo", "demo").root


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[object]:
    """Run ``mlopsctl ARGS`` in-process; returns exit code, stdout and stderr."""
    from mlopsctl.cli.main import run

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run(list(args))
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    yield invoke


def run_cli_process(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    """Run the real ``mlopsctl`` entry point in a subprocess (for end-to-end and import checks)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlopsctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
