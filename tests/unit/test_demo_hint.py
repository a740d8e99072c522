"""The demo says how to reach its own mlopsctl when the shell would not find it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlopsctl.demo import path_hint


@pytest.fixture
def venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "mlopsctl", "activate"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    return bin_dir


def test_no_mlopsctl_on_path_gets_the_activate_command(venv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert path_hint() == f"mlopsctl is {venv / 'mlopsctl'}; first run: source {venv / 'activate'}"


def test_another_mlopsctl_first_on_path_gets_it_too(
    venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "mlopsctl").write_text("#!/bin/sh\n")
    (other / "mlopsctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{other}:{venv}")
    assert path_hint() is not None


def test_this_mlopsctl_on_path_needs_no_hint(venv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(venv))
    assert path_hint() is None
